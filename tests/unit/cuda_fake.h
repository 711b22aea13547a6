/* numabench tests: the host stand-in for the CUDA engine (cuda_fake.c). */
#ifndef NB_CUDA_FAKE_H
#define NB_CUDA_FAKE_H

/* How many times the pipeline broke the engine's contract; *first says how,
 * the first time. */
int nb__fake_cuda_violations(const char **first);

#endif
