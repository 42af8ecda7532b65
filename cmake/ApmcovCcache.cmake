# Use ccache when it is installed: CI rebuilds from a clean tree, and generated gRPC code
# is the most expensive part of the build.
find_program(APMCOV_CCACHE ccache)
if(APMCOV_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${APMCOV_CCACHE}" CACHE STRING "" FORCE)
  message(STATUS "ccache: ${APMCOV_CCACHE}")
endif()
