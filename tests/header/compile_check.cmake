# Compiles one translation unit with this build's compiler and flags (from the response file that
# tests/header/CMakeLists.txt generates) plus strict warnings as errors, then checks from the
# compiler's dependency list that no libcurl or nlohmann/json header was pulled in, directly or not.
# cmake -DCXX=... -DRSP=... -DSOURCE=... -DOBJECT=... -DWARNINGS=... -P compile_check.cmake
cmake_minimum_required(VERSION 3.16)

get_filename_component(object_dir "${OBJECT}" DIRECTORY)
file(MAKE_DIRECTORY "${object_dir}")
file(REMOVE "${OBJECT}" "${OBJECT}.d")
separate_arguments(warnings UNIX_COMMAND "${WARNINGS}")
set(command "${CXX}" "@${RSP}" ${warnings} -c "${SOURCE}" -o "${OBJECT}" -MD -MF "${OBJECT}.d")
list(JOIN command " " shown)
message(STATUS "${shown}")
execute_process(COMMAND ${command} RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  file(READ "${RSP}" flags)
  message(FATAL_ERROR "${SOURCE} does not compile (${result}). Flags from ${RSP}:\n${flags}")
endif()

file(READ "${OBJECT}.d" dependencies)
string(REGEX MATCHALL "[^ \t\r\n\\\\]*(curl|nlohmann)/[^ \t\r\n\\\\]*" third_party "${dependencies}")
if(third_party)
  list(JOIN third_party "\n  " text)
  message(FATAL_ERROR "${SOURCE} pulls in third-party headers:\n  ${text}")
endif()
string(REGEX MATCHALL "[^ \t\r\n\\\\]+\\.h[a-z]*" all "${dependencies}")
list(LENGTH all count)
message(STATUS "${SOURCE}: compiles; ${count} headers, none from curl/ or nlohmann/")
