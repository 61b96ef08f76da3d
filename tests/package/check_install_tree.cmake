# Checks what `cmake --install` put in PREFIX: exactly the public headers, the library, its CMake
# package files, runbase.pc, the licence (and the tools' programs when they are built), and that
# the installed headers are self-contained: each includes only standard headers and runbase/ ones.
# cmake -DPREFIX=... -DINCLUDEDIR=... -DLIBDIR=... -DBINDIR=... -DDATAROOTDIR=...
#       -DSOURCE_INCLUDE_DIR=... -DTOOLS=ON|OFF -DSHARED=ON|OFF -P check_install_tree.cmake
cmake_minimum_required(VERSION 3.16)

set(problems "")
macro(problem text)
  list(APPEND problems "${text}")
endmacro()

function(regex_escape out text)
  string(REGEX REPLACE "([][+.*()^$?|\\\\])" "\\\\\\1" escaped "${text}")
  set(${out} "${escaped}" PARENT_SCOPE)
endfunction()
regex_escape(inc "${INCLUDEDIR}")
regex_escape(lib "${LIBDIR}")
regex_escape(bin "${BINDIR}")
regex_escape(share "${DATAROOTDIR}")

set(allowed
  "^${inc}/runbase/.+$"
  "^${lib}/librunbase\\.(a|so(\\.[0-9]+)*|dylib|[0-9.]+\\.dylib)$"
  "^${lib}/cmake/runbase/runbase-(config|config-version|targets|targets-[a-z]+)\\.cmake$"
  "^${lib}/pkgconfig/runbase\\.pc$"
  "^${share}/doc/runbase/LICENSE$")
if(TOOLS)
  list(APPEND allowed "^${bin}/runbase[-a-z0-9_]*$")
endif()

file(GLOB_RECURSE installed LIST_DIRECTORIES false RELATIVE "${PREFIX}" "${PREFIX}/*")
list(SORT installed)
foreach(path IN LISTS installed)
  set(ok FALSE)
  foreach(pattern IN LISTS allowed)
    if(path MATCHES "${pattern}")
      set(ok TRUE)
      break()
    endif()
  endforeach()
  if(NOT ok)
    problem("unexpected file installed: ${path}")
  endif()
endforeach()

# What must be there.
file(GLOB public_headers RELATIVE "${SOURCE_INCLUDE_DIR}" "${SOURCE_INCLUDE_DIR}/runbase/*.hpp")
set(required
  ${LIBDIR}/cmake/runbase/runbase-config.cmake
  ${LIBDIR}/cmake/runbase/runbase-config-version.cmake
  ${LIBDIR}/cmake/runbase/runbase-targets.cmake
  ${LIBDIR}/pkgconfig/runbase.pc
  ${DATAROOTDIR}/doc/runbase/LICENSE
  ${INCLUDEDIR}/runbase/export.hpp
  ${INCLUDEDIR}/runbase/version.hpp)
foreach(header IN LISTS public_headers)
  list(APPEND required "${INCLUDEDIR}/${header}")
endforeach()
foreach(path IN LISTS required)
  if(NOT EXISTS "${PREFIX}/${path}")
    problem("missing: ${path}")
  endif()
endforeach()
if(SHARED)
  set(library_pattern "^${lib}/librunbase\\.(so|dylib)")
else()
  set(library_pattern "^${lib}/librunbase\\.a$")
endif()
set(library_found FALSE)
foreach(path IN LISTS installed)
  if(path MATCHES "${library_pattern}")
    set(library_found TRUE)
  elseif(path MATCHES "^${lib}/librunbase\\.")
    problem("a library of the other kind was installed: ${path}")
  endif()
endforeach()
if(NOT library_found)
  problem("no ${library_pattern} installed")
endif()

# Installed headers: no preprocessor line names curl/ or nlohmann/, every <...> include is a
# standard header (no '/'), and every "..." include is a runbase/ header that was installed.
file(GLOB_RECURSE headers LIST_DIRECTORIES false "${PREFIX}/${INCLUDEDIR}/*")
foreach(header IN LISTS headers)
  file(RELATIVE_PATH name "${PREFIX}" "${header}")
  file(STRINGS "${header}" directives REGEX "^[ \t]*#")
  foreach(line IN LISTS directives)
    if(line MATCHES "curl/|nlohmann/")
      problem("${name} names a third-party header: ${line}")
    endif()
    if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*<([^>]*)>")
      if(CMAKE_MATCH_1 MATCHES "/")
        problem("${name} includes a non-standard header: ${line}")
      endif()
    elseif(line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\"")
      if(NOT CMAKE_MATCH_1 MATCHES "^runbase/" OR NOT EXISTS "${PREFIX}/${INCLUDEDIR}/${CMAKE_MATCH_1}")
        problem("${name} includes ${CMAKE_MATCH_1}, which is not an installed runbase header")
      endif()
    endif()
  endforeach()
endforeach()

# The exported targets never ask a consumer for nlohmann_json (it is a build-only dependency).
file(GLOB target_files "${PREFIX}/${LIBDIR}/cmake/runbase/runbase-targets*.cmake")
foreach(file IN LISTS target_files)
  file(READ "${file}" text)
  if(text MATCHES "nlohmann")
    problem("${file} mentions nlohmann_json")
  endif()
endforeach()

if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "Installed tree under ${PREFIX} is wrong:\n  ${text}")
endif()
list(LENGTH installed count)
list(JOIN installed "\n  " listing)
message(STATUS "Installed tree OK (${count} files):\n  ${listing}")
