# cmake -DOUT=<file.cc> -DMIGRATIONS="a.sql;b.sql" -P embed_migrations.cmake
# Writes a C++ source defining apmcov::store::EmbeddedMigrations() from the migration files,
# so the analyzer needs no files at run time. File names must be NNNN_name.sql.
set(body "")
foreach(path IN LISTS MIGRATIONS)
  get_filename_component(file "${path}" NAME)
  if(NOT file MATCHES "^([0-9][0-9][0-9][0-9])_([A-Za-z0-9_]+)\\.sql$")
    message(FATAL_ERROR "migration file name must be NNNN_name.sql: ${file}")
  endif()
  set(version "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  math(EXPR version_num "${version}")
  file(READ "${path}" sql)
  if(sql MATCHES "\\)apmcov_sql\"")
    message(FATAL_ERROR "${file} contains the raw string delimiter )apmcov_sql\"")
  endif()
  string(APPEND body "      {${version_num}, \"${name}\", R\"apmcov_sql(${sql})apmcov_sql\"},\n")
endforeach()
set(content "// Generated from libs/store/migrations by embed_migrations.cmake. Do not edit.
#include \"apmcov/store/postgres_store.h\"

namespace apmcov::store {

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration> migrations = {
${body}  };
  return migrations;
}

}  // namespace apmcov::store
")
file(WRITE "${OUT}.tmp" "${content}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
