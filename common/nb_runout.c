// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* netblame run's output contract: see nb_runout.h. */
#include "nb_runout.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static char *s_dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(o);
	return s;
}

/* Text that is not UTF-8 (a tool printed raw bytes) is shown with '?' rather than lost. */
static json_t *s_str(const char *txt)
{
	json_t *v = json_string(txt);
	char *esc;

	if (v)
		return v;
	esc = strdup(txt);
	for (char *p = esc; p && *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = esc ? json_string(esc) : NULL;
	free(esc);
	return v ? v : json_string("");
}

char *nb_runout_json(const char *line, const char *node)
{
	json_t *in = json_loads(line, JSON_REJECT_DUPLICATES, NULL), *out = json_object();
	const char *k;
	json_t *v;

	if (!out) {
		json_decref(in);
		return NULL;
	}
	json_object_set_new(out, "node", s_str(node));
	if (!json_is_object(in)) {
		json_object_set_new(out, "type", json_string("text"));
		json_object_set_new(out, "line", s_str(line));
		json_decref(in);
		return s_dump(out);
	}
	json_object_foreach(in, k, v)
	{
		if (strcmp(k, "node"))
			json_object_set(out, k, v);
	}
	json_decref(in);
	return s_dump(out);
}

char *nb_runout_end(const char *node, int exit_code, const char *reason)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "node", s_str(node));
	json_object_set_new(o, "type", json_string("end"));
	json_object_set_new(o, "exit_code", json_integer(exit_code));
	json_object_set_new(o, "reason", s_str(reason ? reason : ""));
	return s_dump(o);
}

int nb_runout_exit(const int *codes, size_t n, bool usage)
{
	if (usage)
		return 2;
	for (size_t i = 0; i < n; i++)
		if (codes[i] != 0)
			return 1;
	return n ? 0 : 1;
}
