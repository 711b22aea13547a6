/* Fuzz target: Linux CPU and node lists ("0-3,8,10-11") as read from /sys
 * and from recorded trees (nb__parse_cpulist). The first two bytes give the
 * largest index allowed; the rest is the list. */
#include "fuzz.h"
#include "nb-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  int max = (data[0] << 8 | data[1]) % (NB_MAX_CPU_INDEX + 1);
  char *text = fuzz_string(data + 2, size - 2);
  int *v = NULL;
  int n = nb__parse_cpulist(text, max, &v);
  FUZZ_CHECK(n >= 0 || n == NB_EFORMAT || n == NB_ENOMEM, "'%s': code %d", text, n);
  FUZZ_CHECK(n <= max + 1, "'%s': %d values at most %d", text, n, max);
  for (int i = 0; i < n; i++) {
    FUZZ_CHECK(v[i] >= 0 && v[i] <= max, "'%s': value %d outside 0..%d", text, v[i], max);
    /* Strictly ascending: a set ("0-1,1-2" once gave CPU 1 twice; seed list-4). */
    FUZZ_CHECK(i == 0 || v[i] > v[i - 1], "'%s': not strictly ascending at %d", text, i);
  }
  free(v);
  free(text);
  return 0;
}
