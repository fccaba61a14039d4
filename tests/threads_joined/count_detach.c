/* Counts pthread_detach calls (LD_PRELOAD) and prints the count to stderr at exit:
   tests/threads_joined.rs checks that leafseal detaches no thread. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static atomic_int detached;

int pthread_detach(pthread_t thread) {
    static int (*real)(pthread_t);
    if (!real) {
        real = (int (*)(pthread_t))dlsym(RTLD_NEXT, "pthread_detach");
    }
    atomic_fetch_add(&detached, 1);
    return real(thread);
}

__attribute__((destructor)) static void report(void) {
    char line[64];
    int n = snprintf(line, sizeof line, "\nPTHREAD_DETACH_CALLS=%d\n", atomic_load(&detached));
    if (n > 0) {
        (void)write(2, line, (size_t)n);
    }
}
