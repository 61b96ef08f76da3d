# Greps the public headers (include/runbase and the generated export.hpp/version.hpp) for
# preprocessor lines that name curl/ or nlohmann/ (an #include, a __has_include, ...). Prose in
# comments may mention the libraries; a directive may not.
# cmake -DDIRS="dir1;dir2" -P check_includes.cmake
cmake_minimum_required(VERSION 3.16)

set(problems "")
set(count 0)
foreach(dir IN LISTS DIRS)
  file(GLOB_RECURSE headers LIST_DIRECTORIES false "${dir}/runbase/*")
  foreach(header IN LISTS headers)
    math(EXPR count "${count} + 1")
    file(STRINGS "${header}" lines REGEX "^[ \t]*#.*(curl/|nlohmann/)")
    foreach(line IN LISTS lines)
      list(APPEND problems "${header}: ${line}")
    endforeach()
  endforeach()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "no public headers found in ${DIRS}")
endif()
if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "public headers name libcurl or nlohmann/json headers:\n  ${text}")
endif()
message(STATUS "${count} public headers; none names curl/ or nlohmann/")
