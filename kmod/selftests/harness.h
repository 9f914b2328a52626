/* SPDX-License-Identifier: GPL-2.0 */
/*
 * harness.h - a small look-alike of the kernel's tools/testing/selftests/
 * kselftest_harness.h, for the records selftests.
 *
 *   FIXTURE(name) { members };
 *   FIXTURE_SETUP(name) { ... self->member ... }
 *   FIXTURE_TEARDOWN(name) { ... }
 *   TEST_F(name, test) { ... ASSERT_EQ(a, b); EXPECT_GE(a, b); TH_LOG("..."); }
 *   TEST(test) { ... }
 *   TEST_F_TIMEOUT / TEST_TIMEOUT: the same with a timeout in seconds (default 120).
 *   TEST_HARNESS_MAIN
 *
 * Every test runs in its own forked child, so an ASSERT ends only that test (the
 * child exits; the kernel then cleans up its files, which the tests rely on) and a
 * hung test is killed at its timeout.  Output is TAP 13; "prog NAME..." runs only the
 * tests whose "fixture.test" name contains one of the arguments.
 */
#ifndef _RECORDS_HARNESS_H
#define _RECORDS_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KSFT_PASS	0
#define KSFT_FAIL	1
#define KSFT_SKIP	4

struct __test_metadata {
	const char *name;
	void (*fn)(struct __test_metadata *);
	int timeout;
	bool failed;
	struct __test_metadata *next;
};

static struct __test_metadata *__tests, **__tests_tail = &__tests;
static unsigned int __test_count;

static inline void __register_test(struct __test_metadata *t)
{
	*__tests_tail = t;
	__tests_tail = &t->next;
	__test_count++;
}

#define TH_LOG(fmt, ...) \
	fprintf(stderr, "# %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__)

#define SKIP(statement, fmt, ...) do {					\
	fprintf(stderr, "# SKIP " fmt "\n", ##__VA_ARGS__);		\
	fflush(NULL);							\
	_exit(KSFT_SKIP);						\
	statement;							\
} while (0)

#define __EXPECT(expected, seen, op, is_assert) do {			\
	__typeof__(expected) __exp = (expected);			\
	__typeof__(seen) __seen = (seen);				\
	if (!(__exp op __seen)) {					\
		fprintf(stderr, "# %s:%d: Expected %s (%lld) %s %s (%lld)\n", \
			__FILE__, __LINE__, #expected, (long long)__exp, \
			#op, #seen, (long long)__seen);			\
		_metadata->failed = true;				\
		if (is_assert) {					\
			fflush(NULL);					\
			_exit(KSFT_FAIL);				\
		}							\
	}								\
} while (0)

#define ASSERT_EQ(e, s)	__EXPECT(e, s, ==, 1)
#define ASSERT_NE(e, s)	__EXPECT(e, s, !=, 1)
#define ASSERT_LT(e, s)	__EXPECT(e, s, <, 1)
#define ASSERT_LE(e, s)	__EXPECT(e, s, <=, 1)
#define ASSERT_GT(e, s)	__EXPECT(e, s, >, 1)
#define ASSERT_GE(e, s)	__EXPECT(e, s, >=, 1)
#define ASSERT_TRUE(s)	__EXPECT(0, !!(s), !=, 1)
#define ASSERT_FALSE(s)	__EXPECT(0, !!(s), ==, 1)
#define EXPECT_EQ(e, s)	__EXPECT(e, s, ==, 0)
#define EXPECT_NE(e, s)	__EXPECT(e, s, !=, 0)
#define EXPECT_LT(e, s)	__EXPECT(e, s, <, 0)
#define EXPECT_LE(e, s)	__EXPECT(e, s, <=, 0)
#define EXPECT_GT(e, s)	__EXPECT(e, s, >, 0)
#define EXPECT_GE(e, s)	__EXPECT(e, s, >=, 0)
#define EXPECT_TRUE(s)	__EXPECT(0, !!(s), !=, 0)
#define EXPECT_FALSE(s)	__EXPECT(0, !!(s), ==, 0)

/* A syscall that must succeed: ASSERT_SYS(fd = socket(...)); */
#define ASSERT_SYS(expr) do {						\
	if ((long)(expr) < 0) {						\
		fprintf(stderr, "# %s:%d: %s: %s\n", __FILE__, __LINE__, \
			#expr, strerror(errno));			\
		_metadata->failed = true;				\
		fflush(NULL);						\
		_exit(KSFT_FAIL);					\
	}								\
} while (0)

/* A syscall that must fail with @err. */
#define ASSERT_ERRNO(expr, err) do {					\
	long __ret = (long)(expr);					\
	int __errno = errno;						\
	if (__ret != -1 || __errno != (err)) {				\
		fprintf(stderr, "# %s:%d: %s returned %ld (%s), wanted %s\n", \
			__FILE__, __LINE__, #expr, __ret,		\
			__ret == -1 ? strerror(__errno) : "no error",	\
			strerror(err));					\
		_metadata->failed = true;				\
		fflush(NULL);						\
		_exit(KSFT_FAIL);					\
	}								\
} while (0)

#define FIXTURE(f)		struct _fixture_data_##f
#define FIXTURE_SETUP(f)						\
	static void _fixture_setup_##f(struct __test_metadata __attribute__((unused)) *_metadata, \
				       struct _fixture_data_##f __attribute__((unused)) *self)
#define FIXTURE_TEARDOWN(f)						\
	static void _fixture_teardown_##f(struct __test_metadata __attribute__((unused)) *_metadata, \
					  struct _fixture_data_##f __attribute__((unused)) *self)

#define __TEST_REGISTER(id, tname, tmo)					\
	static struct __test_metadata _meta_##id = {			\
		.name = tname, .fn = _wrap_##id, .timeout = tmo,	\
	};								\
	static void __attribute__((constructor)) _register_##id(void)	\
	{								\
		__register_test(&_meta_##id);				\
	}

#define TEST_F_TIMEOUT(f, t, tmo)					\
	static void _test_##f##_##t(struct __test_metadata *_metadata,	\
				    struct _fixture_data_##f *self);	\
	static void _wrap_##f##_##t(struct __test_metadata *_metadata)	\
	{								\
		struct _fixture_data_##f self;				\
		memset(&self, 0, sizeof(self));				\
		_fixture_setup_##f(_metadata, &self);			\
		_test_##f##_##t(_metadata, &self);			\
		_fixture_teardown_##f(_metadata, &self);		\
	}								\
	__TEST_REGISTER(f##_##t, #f "." #t, tmo)			\
	static void _test_##f##_##t(struct __test_metadata __attribute__((unused)) *_metadata, \
				    struct _fixture_data_##f __attribute__((unused)) *self)

#define TEST_F(f, t)		TEST_F_TIMEOUT(f, t, 120)

#define TEST_TIMEOUT(t, tmo)						\
	static void _test_##t(struct __test_metadata *_metadata);	\
	static void _wrap_##t(struct __test_metadata *_metadata)	\
	{								\
		_test_##t(_metadata);					\
	}								\
	__TEST_REGISTER(t, "global." #t, tmo)				\
	static void _test_##t(struct __test_metadata __attribute__((unused)) *_metadata)

#define TEST(t)			TEST_TIMEOUT(t, 120)

static inline double __now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline bool __selected(const char *name, int argc, char **argv)
{
	int i;

	if (argc < 2)
		return true;
	for (i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

/* Runs one test in a child; returns KSFT_PASS, KSFT_FAIL or KSFT_SKIP. */
static inline int __run_test(struct __test_metadata *t)
{
	double start = __now();
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return KSFT_FAIL;
	}
	if (pid == 0) {
		setpgid(0, 0);
		t->fn(t);
		fflush(NULL);
		_exit(t->failed ? KSFT_FAIL : KSFT_PASS);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (__now() - start > t->timeout) {
			fprintf(stderr, "# %s: timed out after %d s\n", t->name, t->timeout);
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return KSFT_FAIL;
		}
		usleep(10000);
	}
	/* Helpers a test forked and left behind die with it. */
	kill(-pid, SIGKILL);
	fprintf(stderr, "# %s: %.2f s\n", t->name, __now() - start);
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "# %s: killed by signal %d\n", t->name, WTERMSIG(status));
		return KSFT_FAIL;
	}
	if (WEXITSTATUS(status) == KSFT_SKIP)
		return KSFT_SKIP;
	return WEXITSTATUS(status) == KSFT_PASS ? KSFT_PASS : KSFT_FAIL;
}

static inline int __test_main(int argc, char **argv)
{
	unsigned int n = 0, pass = 0, fail = 0, skip = 0;
	struct __test_metadata *t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
	for (t = __tests; t; t = t->next)
		if (__selected(t->name, argc, argv))
			n++;
	printf("1..%u\n", n);
	n = 0;
	for (t = __tests; t; t = t->next) {
		int ret;

		if (!__selected(t->name, argc, argv))
			continue;
		n++;
		printf("# RUN %s\n", t->name);
		ret = __run_test(t);
		if (ret == KSFT_PASS) {
			pass++;
			printf("ok %u %s\n", n, t->name);
		} else if (ret == KSFT_SKIP) {
			skip++;
			printf("ok %u %s # SKIP\n", n, t->name);
		} else {
			fail++;
			printf("not ok %u %s\n", n, t->name);
		}
	}
	printf("# PASSED: %u / %u (skipped %u, failed %u)\n", pass + skip, n, skip, fail);
	return fail ? KSFT_FAIL : KSFT_PASS;
}

#define TEST_HARNESS_MAIN						\
	int main(int argc, char **argv)					\
	{								\
		return __test_main(argc, argv);				\
	}

#endif /* _RECORDS_HARNESS_H */
