#include "bus/kafka_admin.h"

#include <algorithm>
#include <thread>

namespace parley::bus::kafka {

bool create_topic(rd_kafka_t* rk, const kafka_options& opts, steady::time_point deadline,
                  std::string& why) {
  char err[512];
  rd_kafka_NewTopic_t* nt =
      rd_kafka_NewTopic_new(opts.topic.c_str(), opts.partitions, opts.replication, err, sizeof err);
  if (!nt) return fail_init(why, std::string("topic spec: ") + err);
  rd_kafka_AdminOptions_t* ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  int left = std::max(remaining_ms(deadline), 1);
  rd_kafka_AdminOptions_set_request_timeout(ao, left, err, sizeof err);
  // The broker answers once the topic exists (or after this long).
  rd_kafka_AdminOptions_set_operation_timeout(ao, std::min(left, 10'000), err, sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, left + 1000);
  bool ok = false;
  if (!ev) {
    why = "create topic: no answer";
  } else if (rd_kafka_event_error(ev)) {
    why = std::string("create topic: ") + rd_kafka_event_error_string(ev);
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    auto e = n ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ok = true;
      spdlog::info("kafka: created topic {} ({} partitions, replication {})", opts.topic,
                   opts.partitions, opts.replication);
    } else if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      ok = true;
    } else {
      // Not fatal by itself: a topic created by an operator (no create permission here)
      // is fine; wait_topic() decides.
      spdlog::warn("kafka: create topic {}: {}", opts.topic,
                   rd_kafka_topic_result_error_string(res[0]));
      ok = true;
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(ao);
  rd_kafka_NewTopic_destroy(nt);
  return ok;
}

bool wait_topic(rd_kafka_t* rk, rd_kafka_topic_t* topic, const kafka_options& opts,
                steady::time_point deadline, int& partitions, std::string& why) {
  why = "topic metadata: timed out";
  while (true) {
    const rd_kafka_metadata_t* md = nullptr;
    int left = remaining_ms(deadline);
    auto e = rd_kafka_metadata(rk, 0, topic, &md, std::clamp(left, 1, 2'000));
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      why = std::string("topic metadata: ") + rd_kafka_err2str(e);
    } else {
      bool ready = false;
      if (md->topic_cnt == 1) {
        const auto& t = md->topics[0];
        ready = t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0;
        for (int i = 0; ready && i < t.partition_cnt; ++i) {
          ready = t.partitions[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partitions[i].leader >= 0;
        }
        if (ready) partitions = t.partition_cnt;
        if (t.err) why = std::string("topic metadata: ") + rd_kafka_err2str(t.err);
      }
      rd_kafka_metadata_destroy(md);
      if (ready) {
        if (partitions != opts.partitions) {
          spdlog::warn("kafka: topic {} has {} partitions ({} configured)", opts.topic, partitions,
                       opts.partitions);
        }
        return true;
      }
    }
    if (remaining_ms(deadline) <= 0) return false;
    std::this_thread::sleep_for(milliseconds(100));
  }
}

parts_ptr end_offsets(rd_kafka_t* consumer, const std::string& topic, int partitions,
                      steady::time_point deadline, std::string& why) {
  parts_ptr list;
  while (true) {
    list.reset(rd_kafka_topic_partition_list_new(partitions));
    for (int p = 0; p < partitions; ++p) {
      // offsets_for_times with timestamp -1 (RD_KAFKA_OFFSET_END) asks for the latest offset.
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_END;
    }
    int left = remaining_ms(deadline);
    auto e = rd_kafka_offsets_for_times(consumer, list.get(), std::clamp(left, 1, 5'000));
    for (int i = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR && i < list->cnt; ++i) {
      e = list->elems[i].err;
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[i].offset < 0) {
        e = RD_KAFKA_RESP_ERR__BAD_MSG;  // no offset in the answer
      }
    }
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return list;
    why = std::string("end offsets: ") + rd_kafka_err2str(e);
    if (remaining_ms(deadline) <= 0) return nullptr;
    std::this_thread::sleep_for(milliseconds(100));
  }
}

}  // namespace parley::bus::kafka
