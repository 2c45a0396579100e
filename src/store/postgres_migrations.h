#pragma once
// The PostgreSQL schema as an ordered list of migrations, and the code that applies them.
//
// Where the tables live: the first schema named by the connection's search_path (set it in
// the url: postgresql://host/db?options=-csearch_path%3Dmy_schema). A named schema that does
// not exist yet is created (CREATE SCHEMA) under the migration lock; with the default
// search_path ("$user", public) the tables go to the user's schema if it exists, else public.
#include <span>
#include <string>
#include <string_view>

#include "store/migration.h"
#include "store/postgres_conn.h"

namespace parley::store::pg {

// Every migration this build knows, in version order.
std::span<const migration> migrations() noexcept;
// The version of the last one.
int latest_version() noexcept;

// Brings the schema to latest_version(): each pending step in its own transaction holding
// pg_advisory_xact_lock(key of the schema), so nodes starting at once on an empty database
// apply each step once. Creates the search_path's schema if missing. invalid (with `why`)
// if the schema is at a newer version than this build knows; otherwise the failing step's
// error. Returns the schema the tables are in.
result<std::string> migrate(conn& c, std::string& why);

// The first explicit schema of a search_path value ("" when it starts with "$user" or is
// empty). Handles quoted names ("My Schema").
std::string first_schema(std::string_view search_path);

}  // namespace parley::store::pg
