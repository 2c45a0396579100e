#pragma once
// A schema migration: one step of a backend's ordered list. Each step is applied in its own
// transaction at open, together with the `schema_version` row recording it, so a crash
// leaves the schema at a known version. Versions start at 1 and increase by 1; a database
// whose version is newer than the last step known to this build is refused.
namespace parley::store {

struct migration {
  int version;
  const char* name;  // short description, stored in schema_version
  const char* sql;   // one or more statements
};

}  // namespace parley::store
