// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * CURVE key files: generate/write/read round trip, file modes, no overwrite without force,
 * strict parsing of key files and authorized-keys files (with the failing line), and the
 * fingerprint of a known key. Every test works in its own mkdtemp directory, removed after.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "nb_keys.h"

/*
 * The client test keypair of zmq_curve(7) ("TEST KEY VALUES"), given there in hex and z85.
 * Fingerprint computed independently of this code:
 *   printf "$(echo BB88471D65E2659B30C55A5321CEBB5AAB2B70A398645C26DCA2B2FCB43FC518 |
 *             sed 's/../\\x&/g')" | sha256sum
 */
static const char s_pub_z85[] = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
static const char s_sec_z85[] = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
static const uint8_t s_pub_raw[32] = {
    0xBB, 0x88, 0x47, 0x1D, 0x65, 0xE2, 0x65, 0x9B, 0x30, 0xC5, 0x5A, 0x53, 0x21, 0xCE, 0xBB, 0x5A,
    0xAB, 0x2B, 0x70, 0xA3, 0x98, 0x64, 0x5C, 0x26, 0xDC, 0xA2, 0xB2, 0xFC, 0xB4, 0x3F, 0xC5, 0x18,
};
static const char s_pub_fpr[] =
    "SHA256:ebb3af4dd99ceff36e9f90b5db3e450e4afd35684431fa9f0ec9ee5af5c3e8c3";
/* The server public key of the same page, for a second entry. */
static const char s_srv_z85[] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";

struct s_dir {
	char path[64];
};

static int s_setup(void **state)
{
	struct s_dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	strcpy(d->path, "/tmp/nb_test_keys.XXXXXX");
	if (!mkdtemp(d->path)) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

/* The directory only ever holds plain files (and symlinks) made by the tests. */
static int s_teardown(void **state)
{
	struct s_dir *d = *state;
	struct dirent *e;
	DIR *dir = opendir(d->path);
	char p[PATH_MAX];

	if (dir) {
		while ((e = readdir(dir))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", d->path, e->d_name);
			if (unlink(p))
				rmdir(p);
		}
		closedir(dir);
	}
	rmdir(d->path);
	free(d);
	return 0;
}

static const char *s_path(void **state, const char *name)
{
	static char p[PATH_MAX];
	struct s_dir *d = *state;

	snprintf(p, sizeof(p), "%s/%s", d->path, name);
	return p;
}

static void s_put(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void s_puts(const char *path, const char *text)
{
	s_put(path, text, strlen(text), 0644);
}

static size_t s_get(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

static mode_t s_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_known_key_and_fingerprint(void **state)
{
	struct nb_ckey k;
	char fpr[NB_KEY_FPR_LEN + 1];

	(void)state;
	assert_int_equal(nb_keys_parse(s_pub_z85, strlen(s_pub_z85), &k), 0);
	assert_memory_equal(k.raw, s_pub_raw, 32);
	assert_string_equal(k.z85, s_pub_z85);
	assert_int_equal(nb_keys_fingerprint(k.raw, fpr), 0);
	assert_string_equal(fpr, s_pub_fpr);
	assert_int_equal(strlen(fpr), NB_KEY_FPR_LEN);
	assert_int_equal(nb_keys_fingerprint(NULL, fpr), -EINVAL);
}

static void test_public_of_secret(void **state)
{
	struct nb_ckey sec, pub;

	(void)state;
	if (!nb_keys_curve_available()) {
		skip();
		return;
	}
	assert_int_equal(nb_keys_parse(s_sec_z85, strlen(s_sec_z85), &sec), 0);
	assert_int_equal(nb_keys_public_of(&sec, &pub), 0);
	assert_string_equal(pub.z85, s_pub_z85);
	assert_memory_equal(pub.raw, s_pub_raw, 32);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
	    "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI",	 /* 39 */
	    "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hIDx", /* 41 */
	    "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI\"", /* '"' is not z85 */
	    "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI ",	 /* nor is a space */
	    "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI~",	 /* nor '~' */
	    "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI\\", /* nor '\\' */
	    "########################################",	 /* z85 digits, but > 2^32 per group */
	    "",
	};
	struct nb_ckey k;
	char nul[41];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(nb_keys_parse(bad[i], strlen(bad[i]), &k), -EINVAL);
	memcpy(nul, s_pub_z85, 41);
	nul[10] = '\0';
	assert_int_equal(nb_keys_parse(nul, 40, &k), -EINVAL);
	assert_int_equal(nb_keys_parse(NULL, 40, &k), -EINVAL);
}

static void test_generate_write_read(void **state)
{
	struct s_dir *d = *state;
	struct nb_keypair kp;
	struct nb_ckey pub, sec, derived;
	char buf[128], path[PATH_MAX];
	size_t n;

	if (!nb_keys_curve_available()) {
		skip();
		return;
	}
	assert_int_equal(nb_keys_generate(&kp), 0);
	assert_int_equal(strlen(kp.pub.z85), NB_KEY_Z85_LEN);
	assert_int_equal(strlen(kp.sec.z85), NB_KEY_Z85_LEN);
	assert_int_equal(nb_keys_write(d->path, &kp, false), 0);

	/* Exactly the key and a newline in each file. */
	n = s_get(s_path(state, NB_KEY_PUB_FILE), buf, sizeof(buf));
	assert_int_equal(n, NB_KEY_Z85_LEN + 1);
	assert_memory_equal(buf, kp.pub.z85, NB_KEY_Z85_LEN);
	assert_int_equal(buf[NB_KEY_Z85_LEN], '\n');
	n = s_get(s_path(state, NB_KEY_SEC_FILE), buf, sizeof(buf));
	assert_int_equal(n, NB_KEY_Z85_LEN + 1);
	assert_memory_equal(buf, kp.sec.z85, NB_KEY_Z85_LEN);

	assert_int_equal(nb_keys_read_public(s_path(state, NB_KEY_PUB_FILE), &pub), 0);
	assert_memory_equal(&pub, &kp.pub, sizeof(pub));
	assert_int_equal(nb_keys_read_secret(s_path(state, NB_KEY_SEC_FILE), &sec), 0);
	assert_memory_equal(&sec, &kp.sec, sizeof(sec));
	assert_int_equal(nb_keys_public_of(&sec, &derived), 0);
	assert_memory_equal(&derived, &kp.pub, sizeof(derived));

	/* Two keypairs are not the same keypair. */
	{
		struct nb_keypair kp2;

		assert_int_equal(nb_keys_generate(&kp2), 0);
		assert_memory_not_equal(kp2.sec.raw, kp.sec.raw, NB_KEY_RAW_LEN);
	}
	/* A trailing slash on the directory is fine. */
	assert_int_equal(nb_keys_path(path, sizeof(path), "/a/b//", "x"), 0);
	assert_string_equal(path, "/a/b/x");
	assert_int_equal(nb_keys_path(path, sizeof(path), "/", "x"), 0);
	assert_string_equal(path, "/x");
	assert_int_equal(nb_keys_path(path, sizeof(path), "rel", "x"), 0);
	assert_string_equal(path, "rel/x");
	assert_int_equal(nb_keys_path(path, 6, "/abc", "de"), -ENAMETOOLONG);
	assert_int_equal(nb_keys_path(path, sizeof(path), "", "x"), -EINVAL);
}

static void test_secret_mode(void **state)
{
	struct s_dir *d = *state;
	struct nb_keypair kp;
	mode_t old = umask(0); /* the widest umask must still give 0600 */

	if (!nb_keys_curve_available()) {
		umask(old);
		skip();
		return;
	}
	assert_int_equal(nb_keys_generate(&kp), 0);
	assert_int_equal(nb_keys_write(d->path, &kp, false), 0);
	assert_int_equal(s_mode(s_path(state, NB_KEY_SEC_FILE)), 0600);
	assert_int_equal(s_mode(s_path(state, NB_KEY_PUB_FILE)), 0644);

	/* A replaced secret does not inherit a looser mode from the file it replaces. */
	assert_int_equal(chmod(s_path(state, NB_KEY_SEC_FILE), 0644), 0);
	assert_int_equal(nb_keys_write(d->path, &kp, true), 0);
	assert_int_equal(s_mode(s_path(state, NB_KEY_SEC_FILE)), 0600);
	assert_int_equal(s_mode(s_path(state, NB_KEY_PUB_FILE)), 0644);
	umask(old);
}

static void test_refuse_overwrite(void **state)
{
	struct s_dir *d = *state;
	struct nb_keypair kp1, kp2;
	struct nb_ckey k;
	struct stat st;
	DIR *dir;
	struct dirent *e;
	int files = 0;

	if (!nb_keys_curve_available()) {
		skip();
		return;
	}
	assert_int_equal(nb_keys_generate(&kp1), 0);
	assert_int_equal(nb_keys_generate(&kp2), 0);
	assert_int_equal(nb_keys_write(d->path, &kp1, false), 0);
	assert_int_equal(nb_keys_write(d->path, &kp2, false), -EEXIST);
	assert_int_equal(nb_keys_read_secret(s_path(state, NB_KEY_SEC_FILE), &k), 0);
	assert_memory_equal(&k, &kp1.sec, sizeof(k));
	assert_int_equal(nb_keys_read_public(s_path(state, NB_KEY_PUB_FILE), &k), 0);
	assert_memory_equal(&k, &kp1.pub, sizeof(k));

	/* Only the public key there: refused, and no new secret is left beside it. */
	assert_int_equal(unlink(s_path(state, NB_KEY_SEC_FILE)), 0);
	assert_int_equal(nb_keys_write(d->path, &kp2, false), -EEXIST);
	assert_int_equal(stat(s_path(state, NB_KEY_SEC_FILE), &st), -1);
	assert_int_equal(errno, ENOENT);

	/* A symlink where the secret goes is not followed. */
	assert_int_equal(unlink(s_path(state, NB_KEY_PUB_FILE)), 0);
	assert_int_equal(symlink("elsewhere", s_path(state, NB_KEY_SEC_FILE)), 0);
	assert_int_equal(nb_keys_write(d->path, &kp2, false), -EEXIST);
	assert_int_equal(stat(s_path(state, "elsewhere"), &st), -1);
	assert_int_equal(unlink(s_path(state, NB_KEY_SEC_FILE)), 0);

	/* With force the pair is replaced, and no temporary file is left. */
	assert_int_equal(nb_keys_write(d->path, &kp1, false), 0);
	assert_int_equal(nb_keys_write(d->path, &kp2, true), 0);
	assert_int_equal(nb_keys_read_secret(s_path(state, NB_KEY_SEC_FILE), &k), 0);
	assert_memory_equal(&k, &kp2.sec, sizeof(k));
	assert_int_equal(nb_keys_read_public(s_path(state, NB_KEY_PUB_FILE), &k), 0);
	assert_memory_equal(&k, &kp2.pub, sizeof(k));
	dir = opendir(d->path);
	assert_non_null(dir);
	while ((e = readdir(dir)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			files++;
	closedir(dir);
	assert_int_equal(files, 2);

	/* A directory that is not there. */
	assert_int_equal(nb_keys_write(s_path(state, "missing"), &kp1, false), -ENOENT);
	assert_int_equal(nb_keys_write(s_path(state, "missing"), &kp1, true), -ENOENT);
}

static void test_read_malformed_key_files(void **state)
{
	static const struct {
		const char *text;
		int want;
	} cases[] = {
	    {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\n", 0},
	    {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID", 0}, /* no newline */
	    {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\r\n", -EINVAL},
	    {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\n\n", -EINVAL},
	    {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID \n", -EINVAL},
	    {" Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\n", -EINVAL},
	    {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI\n", -EINVAL},
	    {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{h\"D\n", -EINVAL},
	    {"# a comment\nYne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\n", -EINVAL},
	    {"", -EINVAL},
	    {"\n", -EINVAL},
	};
	struct nb_ckey k;
	char big[5000];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s_puts(s_path(state, "k.pub"), cases[i].text);
		assert_int_equal(nb_keys_read_public(s_path(state, "k.pub"), &k), cases[i].want);
		if (!cases[i].want)
			assert_memory_equal(k.raw, s_pub_raw, 32);
	}
	/* A NUL inside the key. */
	s_put(s_path(state, "k.pub"), "Yne@$w-vo<fVvi]a<NY6T\0ed:M$fCG*[IaLV{hID\n", 41, 0644);
	assert_int_equal(nb_keys_read_public(s_path(state, "k.pub"), &k), -EINVAL);
	/* Too big to be a key, not there, a directory. */
	memset(big, 'a', sizeof(big));
	s_put(s_path(state, "k.pub"), big, sizeof(big), 0644);
	assert_int_equal(nb_keys_read_public(s_path(state, "k.pub"), &k), -EFBIG);
	assert_int_equal(nb_keys_read_public(s_path(state, "nothing"), &k), -ENOENT);
	assert_int_equal(mkdir(s_path(state, "adir"), 0700), 0);
	assert_int_equal(nb_keys_read_public(s_path(state, "adir"), &k), -EISDIR);
	assert_int_equal(nb_keys_read_public(NULL, &k), -EINVAL);

	/* A secret key that group or others may read is refused; 0600 and 0400 are fine. */
	s_put(s_path(state, "k.key"), "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs\n", 41, 0644);
	assert_int_equal(nb_keys_read_secret(s_path(state, "k.key"), &k), -EPERM);
	assert_int_equal(chmod(s_path(state, "k.key"), 0640), 0);
	assert_int_equal(nb_keys_read_secret(s_path(state, "k.key"), &k), -EPERM);
	assert_int_equal(chmod(s_path(state, "k.key"), 0604), 0);
	assert_int_equal(nb_keys_read_secret(s_path(state, "k.key"), &k), -EPERM);
	assert_int_equal(chmod(s_path(state, "k.key"), 0600), 0);
	assert_int_equal(nb_keys_read_secret(s_path(state, "k.key"), &k), 0);
	assert_string_equal(k.z85, s_sec_z85);
	assert_int_equal(chmod(s_path(state, "k.key"), 0400), 0);
	assert_int_equal(nb_keys_read_secret(s_path(state, "k.key"), &k), 0);
}

static void test_authkeys_good(void **state)
{
	char text[1024];
	struct nb_authkeys *ak = NULL;
	struct nb_keys_err err;
	struct nb_ckey srv;
	uint8_t other[32] = {1};

	snprintf(text, sizeof(text),
		 "# coordinators allowed to trace on this node\n"
		 "\n"
		 "%s jump-host-1\n"
		 "   \t\n"
		 "  %s\t ops laptop (alice)  \r\n"
		 "   # indented comment\n"
		 "%s duplicate of the first\n"
		 "%s",
		 s_pub_z85, s_srv_z85, s_pub_z85, s_srv_z85);
	s_puts(s_path(state, "auth"), text);
	assert_int_equal(nb_authkeys_load(s_path(state, "auth"), &ak, &err), 0);
	assert_non_null(ak);
	assert_int_equal(ak->n, 2);
	assert_memory_equal(ak->keys[0].raw, s_pub_raw, 32);
	assert_string_equal(ak->keys[0].label, "jump-host-1");
	assert_string_equal(ak->keys[1].label, "ops laptop (alice)");
	assert_int_equal(nb_keys_parse(s_srv_z85, 40, &srv), 0);
	assert_memory_equal(ak->keys[1].raw, srv.raw, 32);
	assert_true(nb_authkeys_contains(ak, s_pub_raw));
	assert_true(nb_authkeys_contains(ak, srv.raw));
	assert_false(nb_authkeys_contains(ak, other));
	assert_false(nb_authkeys_contains(NULL, other));
	nb_authkeys_free(&ak);
	assert_null(ak);
	nb_authkeys_free(&ak);
	nb_authkeys_free(NULL);

	/* Comments only: a valid, empty list. */
	s_puts(s_path(state, "auth"), "# nobody yet\n\n");
	assert_int_equal(nb_authkeys_load(s_path(state, "auth"), &ak, &err), 0);
	assert_int_equal(ak->n, 0);
	nb_authkeys_free(&ak);
	s_puts(s_path(state, "auth"), "");
	assert_int_equal(nb_authkeys_load(s_path(state, "auth"), &ak, NULL), 0);
	assert_int_equal(ak->n, 0);
	nb_authkeys_free(&ak);

	/* A long label is cut, not refused. */
	snprintf(text, sizeof(text), "%s %0100d\n", s_pub_z85, 7);
	s_puts(s_path(state, "auth"), text);
	assert_int_equal(nb_authkeys_load(s_path(state, "auth"), &ak, &err), 0);
	assert_int_equal(strlen(ak->keys[0].label), NB_AUTH_LABEL_MAX);
	nb_authkeys_free(&ak);
}

static void test_authkeys_bad_line(void **state)
{
	static const struct {
		const char *line;
		const char *what;
	} bad[] = {
	    {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI label", "not a z85"},  /* 39 chars */
	    {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hIDD", "not a z85"},	     /* 41 */
	    {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI\"", "not a z85"},	     /* bad char */
	    {"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID,label", "not a z85"}, /* no space */
	    {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", "not a z85"},
	    {"%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%", "not a z85"}, /* > 2^32 per group */
	};
	struct nb_authkeys *ak = (struct nb_authkeys *)1;
	struct nb_keys_err err;
	char text[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* line 5 is the bad one; the good lines around it do not save the file */
		snprintf(text, sizeof(text), "# header\n%s a\n\n%s b\n%s\n%s c\n", s_pub_z85,
			 s_srv_z85, bad[i].line, s_pub_z85);
		s_puts(s_path(state, "auth"), text);
		assert_int_equal(nb_authkeys_load(s_path(state, "auth"), &ak, &err), -EINVAL);
		assert_null(ak);
		assert_int_equal(err.line, 5);
		assert_non_null(err.what);
		assert_non_null(strstr(err.what, bad[i].what));
	}

	/* A NUL byte and an overlong line are named by their line too. */
	{
		char nul[] = "# x\nYne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID a\0b\n";

		s_put(s_path(state, "auth"), nul, sizeof(nul) - 1, 0644);
		assert_int_equal(nb_authkeys_load(s_path(state, "auth"), &ak, &err), -EINVAL);
		assert_int_equal(err.line, 2);
		assert_string_equal(err.what, "NUL byte");
	}
	{
		char *lng = malloc(3000);

		assert_non_null(lng);
		memset(lng, '#', 3000);
		lng[0] = '\n';
		lng[2999] = '\n';
		s_put(s_path(state, "auth"), lng, 3000, 0644);
		assert_int_equal(nb_authkeys_load(s_path(state, "auth"), &ak, &err), -EINVAL);
		assert_int_equal(err.line, 2);
		assert_string_equal(err.what, "line too long");
		free(lng);
	}
	/* Not there: no line. */
	assert_int_equal(nb_authkeys_load(s_path(state, "none"), &ak, &err), -ENOENT);
	assert_int_equal(err.line, 0);
	assert_null(ak);
}

static void test_authkeys_limit(void **state)
{
	const size_t n = NB_AUTH_MAX_KEYS + 1;
	size_t cap = (n + 1) * 64, len = 0;
	char *text = malloc(cap);
	struct nb_authkeys *ak = NULL;
	struct nb_keys_err err;

	assert_non_null(text);
	len += snprintf(text + len, cap - len, "# many\n");
	for (size_t i = 0; i < n; i++) {
		uint8_t raw[32] = {0};
		char z85[41];

		raw[0] = (uint8_t)i;
		raw[1] = (uint8_t)(i >> 8);
		assert_non_null(zmq_z85_encode(z85, raw, 32));
		len += snprintf(text + len, cap - len, "%s k%zu\n", z85, i);
	}
	s_put(s_path(state, "auth"), text, len, 0644);
	assert_int_equal(nb_authkeys_load(s_path(state, "auth"), &ak, &err), -E2BIG);
	assert_null(ak);
	assert_int_equal(err.line, 1 + n); /* the comment, then key number 1025 */
	assert_string_equal(err.what, "too many keys");

	/* Exactly the limit loads. */
	len = strrchr(text, '\n') - text;
	len = (size_t)((const char *)memrchr(text, '\n', len) - text) + 1;
	s_put(s_path(state, "auth"), text, len, 0644);
	assert_int_equal(nb_authkeys_load(s_path(state, "auth"), &ak, &err), 0);
	assert_int_equal(ak->n, NB_AUTH_MAX_KEYS);
	nb_authkeys_free(&ak);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_key_and_fingerprint),
	    cmocka_unit_test(test_public_of_secret),
	    cmocka_unit_test(test_parse_rejects),
	    cmocka_unit_test_setup_teardown(test_generate_write_read, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_secret_mode, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_overwrite, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_read_malformed_key_files, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_authkeys_good, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_authkeys_bad_line, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_authkeys_limit, s_setup, s_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
