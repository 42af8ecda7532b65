# Every third-party dependency, found once. Targets are imported so each library links
# only what it uses (librdkafka and libpqxx stay private to their adapters).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(nlohmann_json 3 CONFIG REQUIRED)
find_package(simdjson CONFIG REQUIRED)
find_package(CURL REQUIRED)
# msgpack-cxx (header-only) for the Datadog Agent's trace payloads (libs/tracing, ddsim).
find_package(msgpack CONFIG REQUIRED)
pkg_check_modules(PISTACHE REQUIRED IMPORTED_TARGET libpistache)
# ddsim's HTTP server (docs/decisions.md: "ddsim's HTTP server").
pkg_check_modules(MICROHTTPD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx libpq)
if(APMCOV_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()
if(APMCOV_BUILD_BENCH)
  find_package(benchmark CONFIG QUIET)
endif()
