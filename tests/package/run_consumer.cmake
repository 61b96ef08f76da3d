# Configures, builds and runs tests/package/consumer in one of its modes (see its CMakeLists.txt).
# cmake -DMODE=... -DCONSUMER_SOURCE_DIR=... -DCONSUMER_BINARY_DIR=... -DGENERATOR=...
#       [-DMAKE_PROGRAM=...] -DCXX_COMPILER=... -DCXX_FLAGS=... -DEXE_LINKER_FLAGS=...
#       -DSHARED_LINKER_FLAGS=... -DSHARED=ON|OFF [-DPREFIX=...] [-DRUNBASE_SOURCE_DIR=...]
#       -P run_consumer.cmake
cmake_minimum_required(VERSION 3.16)

function(run_step name)
  message(STATUS "[${MODE}] ${name}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "[${MODE}] ${name} failed (${result})")
  endif()
endfunction()

# A fresh tree every time: a stale cache must not hide a broken package.
file(REMOVE_RECURSE "${CONSUMER_BINARY_DIR}")

if(SHARED)
  set(expected_type SHARED_LIBRARY)
else()
  set(expected_type STATIC_LIBRARY)
endif()
set(configure_args
  -S "${CONSUMER_SOURCE_DIR}" -B "${CONSUMER_BINARY_DIR}" -G "${GENERATOR}"
  -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}"
  "-DCMAKE_SHARED_LINKER_FLAGS=${SHARED_LINKER_FLAGS}"
  "-DBUILD_SHARED_LIBS=${SHARED}"
  "-DRUNBASE_CONSUMER_MODE=${MODE}"
  "-DRUNBASE_EXPECTED_TYPE=${expected_type}")
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(MODE STREQUAL "find_package")
  list(APPEND configure_args "-DCMAKE_PREFIX_PATH=${PREFIX}" "-DRUNBASE_EXPECTED_PREFIX=${PREFIX}"
       -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
else()
  list(APPEND configure_args "-DRUNBASE_SOURCE_DIR=${RUNBASE_SOURCE_DIR}")
endif()

run_step(configure "${CMAKE_COMMAND}" ${configure_args})
run_step(build "${CMAKE_COMMAND}" --build "${CONSUMER_BINARY_DIR}" --config Release --parallel 2)

# The consumer's build tree holds no runbase test, tool or example program.
file(GLOB_RECURSE stray LIST_DIRECTORIES false
     "${CONSUMER_BINARY_DIR}/*runbase_unit_tests*" "${CONSUMER_BINARY_DIR}/*runbase_integration*"
     "${CONSUMER_BINARY_DIR}/*runbase-emulator*" "${CONSUMER_BINARY_DIR}/*quickstart*")
if(stray)
  message(FATAL_ERROR "[${MODE}] the consumer's build tree contains runbase test/tool files: ${stray}")
endif()

foreach(candidate "${CONSUMER_BINARY_DIR}/consumer" "${CONSUMER_BINARY_DIR}/Release/consumer"
                  "${CONSUMER_BINARY_DIR}/consumer.exe" "${CONSUMER_BINARY_DIR}/Release/consumer.exe")
  if(EXISTS "${candidate}")
    set(program "${candidate}")
    break()
  endif()
endforeach()
if(NOT program)
  message(FATAL_ERROR "[${MODE}] the consumer program was not built")
endif()
run_step(run "${program}")
message(STATUS "[${MODE}] consumer built and ran")
