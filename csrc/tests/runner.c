/*
 * runner.c - runs the registered tests, each in a forked child.
 *
 *   runner            run every test
 *   runner NAME...    run just those
 *   runner --list     print the test names, one a line
 *
 * One line per test on stdout ("ok name", "ok name # skipped: why",
 * "FAIL name: reason"), then "N passed, N failed" alone on its line; exit
 * status 0 iff nothing failed. A failing test's own stderr (its CHECK
 * messages, a sanitizer report) is copied to the runner's stderr. With
 * SLUICE_TEST_TIMES set, each test's wall time goes to stderr too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MAX_TESTS 1024
#define TEST_TIMEOUT_S 30   /* the child's alarm */
#define KILL_AFTER_MS 35000 /* the runner's own backstop if the alarm is lost */

typedef struct test_case {
    const char *name;
    test_fn fn;
} test_case;

static test_case tests[MAX_TESTS];
static int n_tests;

/* What a child tells the runner; in a MAP_SHARED page so it survives a crash. */
typedef struct result {
    int failures;
    int skipped;
    char first[512]; /* the first failure, or why it was skipped */
} result;

static result *shared;
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER; /* tests may CHECK from threads */

void harness_register(const char *name, test_fn fn) {
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "harness: more than %d tests; raise MAX_TESTS\n", MAX_TESTS);
        abort();
    }
    tests[n_tests++] = (test_case){name, fn};
}

void harness_fail(const char *file, int line, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&fail_mu);
    if (shared->failures++ == 0) snprintf(shared->first, sizeof shared->first, "%s:%d: %s", file, line, msg);
    pthread_mutex_unlock(&fail_mu);
    fprintf(stderr, "%s:%d: %s\n", file, line, msg);
}

int harness_failures(void) { return shared->failures; }

/* _exit: a test ended early may leave memory behind on purpose; the leak
 * check is for tests that run to their end. */
_Noreturn void harness_end_test(void) {
    fflush(NULL);
    _exit(shared->failures ? 1 : 0);
}

_Noreturn void harness_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (!shared->failures) {
        shared->skipped = 1;
        vsnprintf(shared->first, sizeof shared->first, fmt, ap);
    }
    va_end(ap);
    harness_end_test();
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static _Noreturn void child_main(const test_case *t, FILE *err) {
    setpgid(0, 0); /* so the runner can kill what the test forked, too */
    dup2(fileno(err), STDERR_FILENO);
    dup2(fileno(err), STDOUT_FILENO); /* the runner's stdout stays one line a test */
    signal(SIGALRM, SIG_DFL);
    alarm(TEST_TIMEOUT_S);
    t->fn();
    fflush(NULL);
    exit(shared->failures ? 1 : 0); /* exit, not _exit: LeakSanitizer runs at exit */
}

/* Wait for the child, killing it (and its group) past the backstop. */
static int wait_child(pid_t pid, int *timed_out) {
    uint64_t deadline = now_ms() + KILL_AFTER_MS;
    int status = 0;
    *timed_out = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return -1;
        if (now_ms() > deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            *timed_out = 1;
        }
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    kill(-pid, SIGKILL); /* stray grandchildren of this test only */
    return status;
}

/* The first sanitizer line of a child's stderr, to name a crash's cause. */
static void sanitizer_line(FILE *err, char *out, size_t cap) {
    char line[512];
    out[0] = 0;
    rewind(err);
    while (fgets(line, sizeof line, err)) {
        if (strstr(line, "ERROR: ") || strstr(line, "runtime error:") || strstr(line, "SUMMARY: ")) {
            line[strcspn(line, "\n")] = 0;
            snprintf(out, cap, " [%s]", line);
            return;
        }
    }
}

static void copy_stderr(FILE *err, const char *name) {
    char line[1024];
    rewind(err);
    int first = 1;
    while (fgets(line, sizeof line, err)) {
        if (first) fprintf(stderr, "---- stderr of %s\n", name);
        first = 0;
        fputs(line, stderr);
    }
}

/* Runs one test; returns 1 if it passed (or was skipped). */
static int run_one(const test_case *t) {
    memset(shared, 0, sizeof *shared);
    FILE *err = tmpfile();
    if (!err) {
        printf("FAIL %s: runner: tmpfile: %s\n", t->name, strerror(errno));
        return 0;
    }
    fflush(NULL);
    uint64_t t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) {
        printf("FAIL %s: runner: fork: %s\n", t->name, strerror(errno));
        fclose(err);
        return 0;
    }
    if (pid == 0) child_main(t, err);
    int timed_out;
    int status = wait_child(pid, &timed_out);
    uint64_t took = now_ms() - t0;
    char reason[2048] = "";
    char san[600], first[600] = "";
    sanitizer_line(err, san, sizeof san);
    if (shared->failures) snprintf(first, sizeof first, "; first failure: %s", shared->first);
    if (timed_out || (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM))
        snprintf(reason, sizeof reason, "timed out after %d s%s%s", TEST_TIMEOUT_S, san, first);
    else if (WIFSIGNALED(status))
        snprintf(reason, sizeof reason, "killed by signal %d (%s)%s%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), san, first);
    else if (shared->failures > 1)
        snprintf(reason, sizeof reason, "%s (and %d more)", shared->first, shared->failures - 1);
    else if (shared->failures == 1)
        snprintf(reason, sizeof reason, "%s", shared->first);
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        snprintf(reason, sizeof reason, "exit status %d%s", WEXITSTATUS(status), san);
    int ok = reason[0] == 0;
    if (ok && shared->skipped)
        printf("ok %s # skipped: %s\n", t->name, shared->first);
    else if (ok)
        printf("ok %s\n", t->name);
    else
        printf("FAIL %s: %s\n", t->name, reason);
    fflush(stdout);
    if (!ok) copy_stderr(err, t->name);
    if (getenv("SLUICE_TEST_TIMES")) fprintf(stderr, "time %s %llu ms\n", t->name, (unsigned long long)took);
    fclose(err);
    return ok;
}

static const test_case *find(const char *name) {
    for (int i = 0; i < n_tests; i++)
        if (strcmp(tests[i].name, name) == 0) return &tests[i];
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < n_tests; i++) printf("%s\n", tests[i].name);
        return 0;
    }
    for (int i = 1; i < argc; i++)
        if (!find(argv[i])) {
            fprintf(stderr, "runner: no test named %s (see --list)\n", argv[i]);
            return 2;
        }
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        perror("runner: mmap");
        return 2;
    }
    int passed = 0, failed = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) run_one(find(argv[i])) ? passed++ : failed++;
    } else {
        for (int i = 0; i < n_tests; i++) run_one(&tests[i]) ? passed++ : failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
