# hwloc's "picky" warning set; -Werror in CI (NB_WERROR=ON).
add_library(nb_warnings INTERFACE)
target_compile_options(nb_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wwrite-strings -Wformat=2>
  $<$<AND:$<COMPILE_LANGUAGE:C>,$<BOOL:${NB_WERROR}>>:-Werror>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${NB_WERROR}>>:-Werror=all-warnings>)
target_compile_definitions(nb_warnings INTERFACE _GNU_SOURCE)

if(NB_SANITIZE)
  add_compile_options(-fsanitize=${NB_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${NB_SANITIZE})
endif()
