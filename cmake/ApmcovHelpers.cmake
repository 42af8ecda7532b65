# apmcov_warnings(target): the warning set for our own code.
function(apmcov_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
  if(APMCOV_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# apmcov_library(<name> [SOURCES ...] [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Builds libs/<name> as apmcov_<name> with the alias apmcov::<name>; headers live under
# include/apmcov/<name>/ and are exported PUBLIC.
function(apmcov_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(apmcov_${name} STATIC ${ARG_SOURCES})
  add_library(apmcov::${name} ALIAS apmcov_${name})
  target_include_directories(apmcov_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(apmcov_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  apmcov_warnings(apmcov_${name})
endfunction()

# apmcov_test(<name> LABEL unit|integration|e2e|browser SOURCES ... [DEPS ...] [TIMEOUT s])
# One gtest executable registered with ctest under the given label. Integration tests read
# KAFKA_BROKERS / DATABASE_URL from the environment scripts/test.sh sets up.
function(apmcov_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_LABEL)
    message(FATAL_ERROR "apmcov_test(${name}) needs a LABEL")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  apmcov_warnings(${name})
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  set_tests_properties(${name} PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "APMCOV_SOURCE_DIR=${PROJECT_SOURCE_DIR};APMCOV_FIXTURES_DIR=${PROJECT_SOURCE_DIR}/tests/fixtures/datadog;APMCOV_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()

# apmcov_executable(<name> SOURCES ... DEPS ...): a service or tool binary.
function(apmcov_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  apmcov_warnings(${name})
endfunction()

# apmcov_skipped_test(<name> LABEL <label> REASON <text>): registers <name> as a test that
# ctest reports as skipped, with the reason in its output, when a tool it needs is missing at
# configure time. A suite that cannot run shows up in the summary instead of vanishing.
function(apmcov_skipped_test name)
  cmake_parse_arguments(ARG "" "LABEL;REASON" "" ${ARGN})
  message(WARNING "${name} is registered as skipped: ${ARG_REASON}")
  add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E echo "skipped: ${ARG_REASON}")
  set_tests_properties(${name} PROPERTIES LABELS ${ARG_LABEL} SKIP_REGULAR_EXPRESSION "^skipped: ")
endfunction()
