# Required dependencies, each found through pkg-config (Debian ships .pc files
# for all of them). A missing one stops configuration naming its package.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "numabench needs pkg-config: apt-get install pkg-config")
endif()

function(nb_require_pkg var module debpkg)
  pkg_check_modules(${var} IMPORTED_TARGET ${module})
  if(NOT ${var}_FOUND)
    message(FATAL_ERROR "numabench needs ${module}: apt-get install ${debpkg}")
  endif()
endfunction()

nb_require_pkg(HWLOC "hwloc>=2.0" libhwloc-dev)
# 2.12: json_pack releases stolen references on failure without crashing.
nb_require_pkg(JANSSON "jansson>=2.12" libjansson-dev)
nb_require_pkg(GSL "gsl>=2.0" libgsl-dev)
nb_require_pkg(INIH "inih" libinih-dev)
# SHA-256 of the probe record's facts (the fingerprint).
nb_require_pkg(NETTLE "nettle>=3.4" nettle-dev)

# libnuma ships no .pc file on Debian 12.
find_path(NUMA_INCLUDE_DIR numa.h)
find_library(NUMA_LIBRARY numa)
if(NOT NUMA_INCLUDE_DIR OR NOT NUMA_LIBRARY)
  message(FATAL_ERROR "numabench needs libnuma: apt-get install libnuma-dev")
endif()
add_library(nb_numa INTERFACE)
target_include_directories(nb_numa INTERFACE ${NUMA_INCLUDE_DIR})
target_link_libraries(nb_numa INTERFACE ${NUMA_LIBRARY})

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)

if(NB_BUILD_TESTS)
  nb_require_pkg(CMOCKA "cmocka>=1.1" libcmocka-dev)
endif()
