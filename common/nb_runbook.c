// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Runbooks (nb_runbook.h): the schema walk over a libyaml document, ${NAME} substitution, and
 * the conditions: a recursive-descent parser into a small tree, evaluated over jansson values.
 */
#include "nb_runbook.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb_blame.h"
#include "nb_opts.h"
#include "nb_yaml.h"

/* ---------------------------------------------------------------- conditions */

enum s_opk { OPK_STR, OPK_NUM, OPK_PATH };

struct s_operand {
	enum s_opk kind;
	char *text; /* OPK_STR: the literal; OPK_PATH: the path as written, for messages */
	double num;
	int step; /* OPK_PATH: index of the step */
	int nsegs;
	char **segs;
};

enum s_cop { C_OR, C_AND, C_NOT, C_TRUTH, C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE, C_HAS };

struct nb_rb_cond {
	enum s_cop op;
	struct nb_rb_cond *a, *b; /* C_OR, C_AND: both; C_NOT: a */
	struct s_operand l, r;	  /* C_TRUTH: l; comparisons: l and r */
};

static void s_operand_free(struct s_operand *o)
{
	free(o->text);
	for (int i = 0; i < o->nsegs; i++)
		free(o->segs[i]);
	free(o->segs);
}

static void s_cond_free(struct nb_rb_cond *c)
{
	if (!c)
		return;
	s_cond_free(c->a);
	s_cond_free(c->b);
	s_operand_free(&c->l);
	s_operand_free(&c->r);
	free(c);
}

/* The walk's context. */
struct s_ctx {
	struct nb_yaml y;
	struct nb_runbook *rb;
	const struct nb_rb_check *chk;
};

static const struct nb_rb_var *s_var(const struct nb_runbook *rb, const char *name, size_t len)
{
	for (int i = 0; i < rb->n_vars; i++)
		if (strlen(rb->vars[i].name) == len && !strncmp(rb->vars[i].name, name, len))
			return &rb->vars[i];
	return NULL;
}

static bool s_varname_ok(const char *s, size_t l)
{
	if (l == 0 || l > NB_RB_NAME_MAX || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < l; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

static bool s_stepname_ok(const char *s)
{
	size_t l = strlen(s);

	if (l == 0 || l > NB_RB_NAME_MAX)
		return false;
	for (size_t i = 0; i < l; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

/*
 * ${NAME} at s (s[0] == '$', s[1] == '{'): its value, the length of the reference in *used.
 * NULL with the error set when the reference is malformed or names no variable.
 */
static const char *s_ref(struct s_ctx *c, int line, const char *field, const char *s, size_t *used,
			 int *rc)
{
	const char *e = strchr(s + 2, '}');
	const struct nb_rb_var *v;

	if (!e || !s_varname_ok(s + 2, (size_t)(e - s - 2))) {
		*rc = nb_yaml_err_line(&c->y, line, field,
				       "'${' must be followed by a variable name and '}' ($$ is a "
				       "'$')");
		return NULL;
	}
	v = s_var(c->rb, s + 2, (size_t)(e - s - 2));
	if (!v) {
		*rc = nb_yaml_err_line(&c->y, line, field, "unknown variable '%.*s'",
				       (int)(e - s - 2), s + 2);
		return NULL;
	}
	*used = (size_t)(e - s) + 1;
	return v->value ? v->value : "";
}

/* text with every ${NAME} replaced by its value and "$$" by "$", into a new string. */
static int s_subst(struct s_ctx *c, int line, const char *field, const char *text, char **out)
{
	size_t cap = strlen(text) + 1, n = 0;
	char *b = malloc(cap);
	int rc = 0;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	for (const char *p = text; *p;) {
		const char *add = p;
		size_t alen = 1, used = 1;

		if (p[0] == '$' && p[1] == '$') {
			used = 2;
		} else if (p[0] == '$' && p[1] == '{') {
			add = s_ref(c, line, field, p, &used, &rc);
			if (!add) {
				free(b);
				return rc;
			}
			alen = strlen(add);
		}
		if (n + alen + 1 > cap) {
			char *nb;

			cap = (n + alen + 1) * 2;
			if (cap > 16 * NB_RB_VALUE_MAX) {
				free(b);
				return nb_yaml_err_line(&c->y, line, field, "longer than %d bytes",
							NB_RB_VALUE_MAX);
			}
			nb = realloc(b, cap);
			if (!nb) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
		}
		memcpy(b + n, add, alen);
		n += alen;
		p += used;
	}
	b[n] = 0;
	if (n > NB_RB_VALUE_MAX) {
		free(b);
		return nb_yaml_err_line(&c->y, line, field, "longer than %d bytes",
					NB_RB_VALUE_MAX);
	}
	for (const char *p = b; *p; p++)
		if (iscntrl((unsigned char)*p)) {
			free(b);
			return nb_yaml_err_line(&c->y, line, field, "holds a control character");
		}
	*out = b;
	return 0;
}

/* A scalar, substituted. */
static int s_value(struct s_ctx *c, const yaml_node_t *n, const char *field, char **out)
{
	const char *v = nb_yaml_scalar(n);

	*out = NULL;
	if (!v)
		return nb_yaml_err(&c->y, n, field, "must be a single value");
	return s_subst(c, nb_yaml_line(n), field, v, out);
}

static int s_seconds(struct s_ctx *c, const yaml_node_t *n, const char *field, long min,
		     unsigned *out)
{
	char *v;
	long l;
	int rc = s_value(c, n, field, &v);

	if (rc)
		return rc;
	rc = nb_parse_long(v, min, NB_RB_MAX_SECS, &l);
	if (rc)
		rc = nb_yaml_err(&c->y, n, field, "'%s' is not a number of seconds (%ld to %d)", v,
				 min, NB_RB_MAX_SECS);
	else
		*out = (unsigned)l;
	free(v);
	return rc;
}

/* -- the expression parser */

enum s_tok { T_END, T_LP, T_RP, T_OP, T_AND, T_OR, T_NOT, T_HAS, T_NUM, T_STR, T_WORD, T_PATH };

struct s_lex {
	struct s_ctx *c;
	const char *src, *p;
	int line, depth;
	const char *field;
	int step; /* conditions may look at steps [0, step) */
	/* the current token */
	enum s_tok t;
	enum s_cop op;
	double num;
	char *text; /* T_STR, T_WORD: the value */
	int nsegs;  /* T_PATH */
	char **segs;
	char *raw; /* T_PATH: as written */
};

static int s_lerr(struct s_lex *lx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_lerr(struct s_lex *lx, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return nb_yaml_err_line(&lx->c->y, lx->line, lx->field, "%s (in '%s')", what, lx->src);
}

static void s_tok_clear(struct s_lex *lx)
{
	free(lx->text);
	lx->text = NULL;
	for (int i = 0; i < lx->nsegs; i++)
		free(lx->segs[i]);
	free(lx->segs);
	lx->segs = NULL;
	lx->nsegs = 0;
	free(lx->raw);
	lx->raw = NULL;
}

static bool s_wordch(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == ':' || ch == '/';
}

static bool s_is_number(const char *s, double *out)
{
	char *end;

	if (!*s || !(isdigit((unsigned char)s[0]) ||
		     ((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1]))))
		return false;
	*out = strtod(s, &end);
	return !*end && isfinite(*out);
}

/* One segment of a word or path: [A-Za-z0-9_-:/]+ or ${NAME}. */
static int s_segment(struct s_lex *lx, char **out)
{
	const char *s = lx->p;
	int rc = 0;

	*out = NULL;
	if (s[0] == '$' && s[1] == '{') {
		size_t used;
		const char *v = s_ref(lx->c, lx->line, lx->field, s, &used, &rc);

		if (!v)
			return rc;
		lx->p += used;
		*out = strdup(v);
	} else {
		size_t l = 0;

		while (s_wordch(s[l]))
			l++;
		if (!l)
			return s_lerr(lx, "unexpected '%c'", *s);
		lx->p += l;
		*out = strndup(s, l);
	}
	return *out ? 0 : -ENOMEM;
}

static int s_next(struct s_lex *lx)
{
	const char *p;
	int rc;

	s_tok_clear(lx);
	while (isspace((unsigned char)*lx->p))
		lx->p++;
	p = lx->p;
	if (!*p) {
		lx->t = T_END;
		return 0;
	}
	if (*p == '(' || *p == ')') {
		lx->t = *p == '(' ? T_LP : T_RP;
		lx->p++;
		return 0;
	}
	if (strchr("=!<>", *p)) {
		static const struct {
			const char *s;
			enum s_cop op;
		} ops[] = {{"==", C_EQ}, {"!=", C_NE}, {"<=", C_LE},
			   {">=", C_GE}, {"<", C_LT},  {">", C_GT}};

		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (!strncmp(p, ops[i].s, strlen(ops[i].s))) {
				lx->t = T_OP;
				lx->op = ops[i].op;
				lx->p += strlen(ops[i].s);
				return 0;
			}
		return s_lerr(lx, "unknown operator at '%.3s' (== != < <= > >= has)", p);
	}
	if (*p == '\'' || *p == '"') {
		const char *e = strchr(p + 1, *p);

		if (!e)
			return s_lerr(lx, "unterminated quote");
		/* ${NAME} works inside quotes too. */
		{
			char *raw = strndup(p + 1, (size_t)(e - p - 1));

			if (!raw)
				return -ENOMEM;
			rc = s_subst(lx->c, lx->line, lx->field, raw, &lx->text);
			free(raw);
			if (rc)
				return rc;
		}
		lx->t = T_STR;
		lx->p = e + 1;
		return 0;
	}
	/* A word, a number or a path: segments joined by dots. */
	{
		const char *start = lx->p;
		char **segs = NULL;
		int n = 0;

		for (;;) {
			char *seg, **ns;

			if (n >= 16) {
				rc = s_lerr(lx, "a path of more than 16 parts");
				goto fail;
			}
			rc = s_segment(lx, &seg);
			if (rc)
				goto fail;
			ns = realloc(segs, sizeof(*segs) * (size_t)(n + 1));
			if (!ns) {
				free(seg);
				rc = -ENOMEM;
				goto fail;
			}
			segs = ns;
			segs[n++] = seg;
			if (*lx->p != '.')
				break;
			lx->p++;
		}
		{
			char *raw = strndup(start, (size_t)(lx->p - start));
			char *joined;
			size_t jl = 0;

			if (!raw) {
				rc = -ENOMEM;
				goto fail;
			}
			/* A number with a decimal point lexes as two segments. */
			for (int i = 0; i < n; i++)
				jl += strlen(segs[i]) + 1;
			joined = malloc(jl + 1);
			if (!joined) {
				free(raw);
				rc = -ENOMEM;
				goto fail;
			}
			joined[0] = 0;
			for (int i = 0; i < n; i++) {
				if (i)
					strcat(joined, ".");
				strcat(joined, segs[i]);
			}
			if (s_is_number(joined, &lx->num)) {
				lx->t = T_NUM;
				lx->text = joined;
				free(raw);
				for (int i = 0; i < n; i++)
					free(segs[i]);
				free(segs);
				return 0;
			}
			free(joined);
			if (n == 1) {
				static const struct {
					const char *w;
					enum s_tok t;
				} kw[] = {
				    {"and", T_AND}, {"or", T_OR}, {"not", T_NOT}, {"has", T_HAS}};

				lx->t = T_WORD;
				/* A keyword only as written, not as a variable's value. */
				if (start[0] != '$')
					for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
						if (!strcmp(segs[0], kw[i].w))
							lx->t = kw[i].t;
				if (lx->t == T_HAS)
					lx->op = C_HAS;
				lx->text = segs[0];
				free(segs);
				free(raw);
				return 0;
			}
			lx->t = T_PATH;
			lx->segs = segs;
			lx->nsegs = n;
			lx->raw = raw;
			return 0;
		}
	fail:
		for (int i = 0; i < n; i++)
			free(segs[i]);
		free(segs);
		return rc;
	}
}

static int s_operand(struct s_lex *lx, struct s_operand *o)
{
	struct nb_runbook *rb = lx->c->rb;

	memset(o, 0, sizeof(*o));
	switch (lx->t) {
	case T_NUM:
		o->kind = OPK_NUM;
		o->num = lx->num;
		o->text = lx->text;
		lx->text = NULL;
		break;
	case T_STR:
	case T_WORD:
		o->kind = OPK_STR;
		o->text = lx->text;
		lx->text = NULL;
		break;
	case T_PATH:
		o->kind = OPK_PATH;
		o->step = -1;
		for (int i = 0; i < lx->step; i++)
			if (!strcmp(rb->steps[i].name, lx->segs[0]))
				o->step = i;
		if (o->step < 0) {
			bool later = false;

			for (int i = lx->step; i < rb->n_steps; i++)
				later |= !strcmp(rb->steps[i].name, lx->segs[0]);
			return s_lerr(lx, "'%s' is not a step before this one%s", lx->segs[0],
				      later ? "" : " (no step of that name)");
		}
		o->text = lx->raw;
		o->segs = lx->segs;
		o->nsegs = lx->nsegs;
		lx->raw = NULL;
		lx->segs = NULL;
		lx->nsegs = 0;
		break;
	case T_END:
		return s_lerr(lx, "a value is missing at the end");
	default:
		return s_lerr(lx, "a value was expected at '%s'", lx->p);
	}
	/* On an error the operand stays the caller's, freed with its condition. */
	return s_next(lx);
}

static int s_or(struct s_lex *lx, struct nb_rb_cond **out);

static int s_unary(struct s_lex *lx, struct nb_rb_cond **out)
{
	struct nb_rb_cond *c;
	int rc;

	*out = NULL;
	if (++lx->depth > NB_RB_COND_DEPTH)
		return s_lerr(lx, "nested more than %d deep", NB_RB_COND_DEPTH);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (lx->t == T_NOT) {
		c->op = C_NOT;
		rc = s_next(lx);
		if (!rc)
			rc = s_unary(lx, &c->a);
	} else if (lx->t == T_LP) {
		free(c);
		c = NULL;
		rc = s_next(lx);
		if (!rc)
			rc = s_or(lx, &c);
		if (!rc && lx->t != T_RP)
			rc = s_lerr(lx, "')' is missing");
		if (!rc)
			rc = s_next(lx);
	} else {
		c->op = C_TRUTH;
		rc = s_operand(lx, &c->l);
		if (!rc && (lx->t == T_OP || lx->t == T_HAS)) {
			c->op = lx->op;
			rc = s_next(lx);
			if (!rc)
				rc = s_operand(lx, &c->r);
		}
	}
	lx->depth--;
	if (rc) {
		s_cond_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static int s_binary(struct s_lex *lx, enum s_tok t, enum s_cop op,
		    int (*sub)(struct s_lex *, struct nb_rb_cond **), struct nb_rb_cond **out)
{
	struct nb_rb_cond *l;
	int rc = sub(lx, &l);

	if (rc)
		return rc;
	while (lx->t == t) {
		struct nb_rb_cond *n = calloc(1, sizeof(*n));

		if (!n) {
			s_cond_free(l);
			return -ENOMEM;
		}
		n->op = op;
		n->a = l;
		l = n;
		rc = s_next(lx);
		if (!rc)
			rc = sub(lx, &n->b);
		if (rc) {
			s_cond_free(l);
			return rc;
		}
	}
	*out = l;
	return 0;
}

static int s_and(struct s_lex *lx, struct nb_rb_cond **out)
{
	return s_binary(lx, T_AND, C_AND, s_unary, out);
}

static int s_or(struct s_lex *lx, struct nb_rb_cond **out)
{
	return s_binary(lx, T_OR, C_OR, s_and, out);
}

static int s_cond_parse(struct s_ctx *c, const char *text, int line, const char *field, int step,
			struct nb_rb_cond **out)
{
	struct s_lex lx = {
	    .c = c, .src = text, .p = text, .line = line, .field = field, .step = step};
	int rc = s_next(&lx);

	*out = NULL;
	if (!rc && lx.t == T_END)
		rc = s_lerr(&lx, "empty");
	if (!rc)
		rc = s_or(&lx, out);
	if (!rc && lx.t != T_END)
		rc = s_lerr(&lx, "unexpected '%s' after the condition", lx.p[0] ? lx.p : "word");
	s_tok_clear(&lx);
	if (rc) {
		s_cond_free(*out);
		*out = NULL;
	}
	return rc;
}

/* -- evaluation */

struct s_val {
	bool missing;
	json_t *j;     /* a path's value */
	const char *s; /* a literal's text */
	double num;
	bool is_num;
};

static void s_why(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_why(char *why, size_t len, const char *fmt, ...)
{
	size_t o = strlen(why);
	va_list ap;

	if (o + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(why + o, len - o, fmt, ap);
	va_end(ap);
}

static void s_render(const json_t *j, char *buf, size_t len)
{
	char *d;

	if (json_is_string(j)) {
		snprintf(buf, len, "%s", json_string_value(j));
		return;
	}
	d = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	snprintf(buf, len, "%s", d ? d : "?");
	if (d && strlen(d) >= len && len > 4)
		strcpy(buf + len - 4, "...");
	free(d);
}

static struct s_val s_resolve(const struct s_operand *o, json_t *const *results, char *why,
			      size_t whylen)
{
	struct s_val v = {0};

	if (o->kind == OPK_NUM) {
		v.is_num = true;
		v.num = o->num;
		v.s = o->text;
		return v;
	}
	if (o->kind == OPK_STR) {
		v.s = o->text;
		v.is_num = s_is_number(o->text, &v.num);
		return v;
	}
	v.j = results ? results[o->step] : NULL;
	for (int i = 1; v.j && i < o->nsegs; i++) {
		if (json_is_object(v.j)) {
			v.j = json_object_get(v.j, o->segs[i]);
		} else if (json_is_array(v.j)) {
			double idx;

			v.j = s_is_number(o->segs[i], &idx) && idx >= 0 && idx == floor(idx)
				  ? json_array_get(v.j, (size_t)idx)
				  : NULL;
		} else {
			v.j = NULL;
		}
	}
	if (why[0])
		s_why(why, whylen, ", ");
	if (!v.j || json_is_null(v.j)) {
		v.missing = true;
		s_why(why, whylen, "%s: %s", o->text,
		      results && results[o->step] ? "missing" : "did not run");
		return v;
	}
	{
		char r[96];

		s_render(v.j, r, sizeof(r));
		s_why(why, whylen, "%s = %s", o->text, r);
	}
	if (json_is_number(v.j)) {
		v.is_num = true;
		v.num = json_number_value(v.j);
	} else if (json_is_string(v.j)) {
		v.s = json_string_value(v.j);
	} else if (json_is_boolean(v.j)) {
		v.s = json_is_true(v.j) ? "true" : "false";
	}
	return v;
}

static bool s_truth(const struct s_val *v)
{
	if (v->missing)
		return false;
	if (v->is_num)
		return v->num != 0;
	if (v->j) {
		if (json_is_boolean(v->j))
			return json_is_true(v->j);
		if (json_is_string(v->j))
			return json_string_length(v->j) > 0;
		if (json_is_array(v->j))
			return json_array_size(v->j) > 0;
		if (json_is_object(v->j))
			return json_object_size(v->j) > 0;
		return false;
	}
	return v->s && v->s[0];
}

/* The text of a scalar value; NULL for an object or array. */
static const char *s_text(const struct s_val *v, char *buf, size_t len)
{
	if (v->s)
		return v->s;
	if (v->is_num) {
		snprintf(buf, len, "%.17g", v->num);
		return buf;
	}
	return NULL;
}

static bool s_has(const struct s_val *l, const struct s_val *r)
{
	char b[64];
	const char *want = s_text(r, b, sizeof(b));
	size_t i;
	json_t *e;

	if (!l->j || !want)
		return false;
	if (json_is_object(l->j))
		return json_object_get(l->j, want) != NULL;
	if (!json_is_array(l->j))
		return false;
	json_array_foreach(l->j, i, e)
	{
		if (json_is_string(e) && !strcmp(json_string_value(e), want))
			return true;
		if (json_is_number(e) && r->is_num && json_number_value(e) == r->num)
			return true;
	}
	return false;
}

static bool s_cmp(enum s_cop op, const struct s_val *l, const struct s_val *r)
{
	char bl[64], br[64];
	const char *tl, *tr;

	if (l->missing || r->missing)
		return false;
	if (op == C_HAS)
		return s_has(l, r);
	if (l->is_num && r->is_num) {
		switch (op) {
		case C_EQ:
			return l->num == r->num;
		case C_NE:
			return l->num != r->num;
		case C_LT:
			return l->num < r->num;
		case C_LE:
			return l->num <= r->num;
		case C_GT:
			return l->num > r->num;
		case C_GE:
			return l->num >= r->num;
		default:
			return false;
		}
	}
	if (op != C_EQ && op != C_NE)
		return false;
	tl = s_text(l, bl, sizeof(bl));
	tr = s_text(r, br, sizeof(br));
	if (!tl || !tr)
		return false;
	return (op == C_EQ) == !strcmp(tl, tr);
}

bool nb_rb_cond_eval(const struct nb_rb_cond *c, json_t *const *results, char *why, size_t whylen)
{
	struct s_val l, r;

	if (!c)
		return true;
	switch (c->op) {
	case C_OR: {
		/* Both sides are evaluated, so why names everything the decision looked at. */
		bool a = nb_rb_cond_eval(c->a, results, why, whylen);
		bool b = nb_rb_cond_eval(c->b, results, why, whylen);

		return a || b;
	}
	case C_AND: {
		bool a = nb_rb_cond_eval(c->a, results, why, whylen);
		bool b = nb_rb_cond_eval(c->b, results, why, whylen);

		return a && b;
	}
	case C_NOT:
		return !nb_rb_cond_eval(c->a, results, why, whylen);
	case C_TRUTH:
		l = s_resolve(&c->l, results, why, whylen);
		return s_truth(&l);
	default:
		l = s_resolve(&c->l, results, why, whylen);
		r = s_resolve(&c->r, results, why, whylen);
		return s_cmp(c->op, &l, &r);
	}
}

/* ---------------------------------------------------------------- the schema */

const char *nb_rb_kind_name(enum nb_rb_kind k)
{
	static const char *const names[] = {"trace", "run", "wait", "verdict"};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

unsigned nb_rb_step_timeout(const struct nb_rb_step *s)
{
	if (s->timeout_s)
		return s->timeout_s;
	switch (s->kind) {
	case NB_RB_RUN:
		/* The tool ends by itself after its duration; the agents need a little more. */
		return s->duration_s + 30;
	case NB_RB_WAIT:
		return s->wait_s + 1;
	case NB_RB_TRACE:
		return 300;
	default:
		return 1;
	}
}

/* "base.key": a field's dotted name for messages (cut short when very long). */
static void s_field(char *buf, size_t len, const char *base, const char *key)
{
	if (snprintf(buf, len, "%s.%s", base, key) >= (int)len && len > 4)
		strcpy(buf + len - 4, "...");
}

static int s_add_flag(struct s_ctx *c, struct nb_rb_step *st, const yaml_node_t *at,
		      const char *field, const char *name, char *value)
{
	struct nb_rb_flag *f;

	if (st->n_flags >= NB_RB_MAX_FLAGS) {
		free(value);
		return nb_yaml_err(&c->y, at, field, "more than %d flags", NB_RB_MAX_FLAGS);
	}
	f = &st->flags[st->n_flags];
	f->name = strdup(name);
	if (!f->name) {
		free(value);
		return -ENOMEM;
	}
	f->value = value;
	f->line = nb_yaml_line(at);
	st->n_flags++;
	return 0;
}

static bool s_node_exists(struct s_ctx *c, const char *name)
{
	return !c->chk || !c->chk->node || c->chk->node(c->chk->ctx, name);
}

static int s_node_ref(struct s_ctx *c, struct nb_rb_step *st, const yaml_node_t *n,
		      const char *field, const char *name)
{
	if (st->n_on >= NB_RB_MAX_ON)
		return nb_yaml_err(&c->y, n, field, "more than %d nodes", NB_RB_MAX_ON);
	if (!name[0])
		return nb_yaml_err(&c->y, n, field, "an empty node name");
	for (int i = 0; i < st->n_on; i++)
		if (!strcmp(st->on[i], name))
			return nb_yaml_err(&c->y, n, field, "node '%s' named twice", name);
	if (!s_node_exists(c, name))
		return nb_yaml_err(&c->y, n, field, "no node '%s' (not in the inventory or --node)",
				   name);
	st->on[st->n_on] = strdup(name);
	if (!st->on[st->n_on])
		return -ENOMEM;
	st->on_line[st->n_on++] = nb_yaml_line(n);
	return 0;
}

static const char *const s_trace_flags[] = {"src-ip", "dst-ip",	  "src-port",  "dst-port",
					    "count",  "duration", "timeout-ms"};

static int s_trace(struct s_ctx *c, const yaml_node_t *y, const char *base, struct nb_rb_step *st)
{
	const yaml_node_t *from = NULL, *to = NULL;
	bool have_src = false, have_dst = false, have_count = false, have_dur = false;
	char f[320];
	int rc;

	if (y->type != YAML_MAPPING_NODE)
		return nb_yaml_err(&c->y, y, base,
				   "must be a mapping (proto, from, to, src-ip, dst-ip, ...)");
	for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = nb_yaml_node(&c->y, p->key), *v = nb_yaml_node(&c->y, p->value);
		const char *key = nb_yaml_scalar(k);
		bool known = false;
		char *val;

		if (!key)
			return nb_yaml_err(&c->y, k, base, "a key must be a string");
		s_field(f, sizeof(f), base, key);
		if (!strcmp(key, "from") || !strcmp(key, "to")) {
			if (!strcmp(key, "from") ? from : to)
				return nb_yaml_err(&c->y, k, f, "given twice");
			*(!strcmp(key, "from") ? &from : &to) = v;
			continue;
		}
		rc = s_value(c, v, f, &val);
		if (rc)
			return rc;
		if (!strcmp(key, "proto")) {
			if (strcmp(val, "icmp") && strcmp(val, "tcp") && strcmp(val, "udp")) {
				rc = nb_yaml_err(&c->y, v, f, "'%s' is not icmp, tcp or udp", val);
				free(val);
				return rc;
			}
			if (st->proto[0]) {
				free(val);
				return nb_yaml_err(&c->y, k, f, "given twice");
			}
			strcpy(st->proto, val);
			free(val);
			continue;
		}
		for (size_t i = 0; i < sizeof(s_trace_flags) / sizeof(s_trace_flags[0]); i++)
			known |= !strcmp(key, s_trace_flags[i]);
		if (!known) {
			free(val);
			return nb_yaml_err(
			    &c->y, k, f,
			    "unknown key (proto, from, to, src-ip, dst-ip, src-port, "
			    "dst-port, count, duration, timeout-ms)");
		}
		for (int i = 0; i < st->n_flags; i++)
			if (!strcmp(st->flags[i].name, key)) {
				free(val);
				return nb_yaml_err(&c->y, k, f, "given twice");
			}
		if (strcmp(key, "src-ip") && strcmp(key, "dst-ip")) {
			long l;

			if (nb_parse_long(val, 1, strstr(key, "port") ? 65535 : 1L << 40, &l)) {
				rc = nb_yaml_err(&c->y, v, f, "'%s' is not a positive number", val);
				free(val);
				return rc;
			}
		}
		have_src |= !strcmp(key, "src-ip");
		have_dst |= !strcmp(key, "dst-ip");
		have_count |= !strcmp(key, "count");
		have_dur |= !strcmp(key, "duration");
		rc = s_add_flag(c, st, v, f, key, val);
		if (rc)
			return rc;
	}
	if (!st->proto[0])
		return nb_yaml_err(&c->y, y, base, "proto is missing (icmp, tcp or udp)");
	if (!from || !to)
		return nb_yaml_err(&c->y, y, base, "%s is missing (a node name: side %s)",
				   from ? "to" : "from", from ? "B" : "A");
	if (!have_src || !have_dst)
		return nb_yaml_err(&c->y, y, base, "%s is missing", have_src ? "dst-ip" : "src-ip");
	if (have_count == have_dur)
		return nb_yaml_err(&c->y, y, base, "give count or duration (%s)",
				   have_count ? "not both" : "a trace must end");
	for (int i = 0; i < 2; i++) {
		const yaml_node_t *n = i ? to : from;
		char *name;

		snprintf(f, sizeof(f), "%s.%s", base, i ? "to" : "from");
		rc = s_value(c, n, f, &name);
		if (!rc)
			rc = s_node_ref(c, st, n, f, name);
		free(name);
		if (rc)
			return rc;
	}
	return 0;
}

static int s_flags(struct s_ctx *c, const yaml_node_t *y, const char *base, struct nb_rb_step *st)
{
	char f[320];

	if (y->type != YAML_MAPPING_NODE)
		return nb_yaml_err(&c->y, y, base,
				   "must be a mapping of the tool's flags, e.g. {src-ip: ADDR}");
	for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = nb_yaml_node(&c->y, p->key), *v = nb_yaml_node(&c->y, p->value);
		const char *key = nb_yaml_scalar(k), *sv;
		char *val = NULL;
		int rc;

		if (!key)
			return nb_yaml_err(&c->y, k, base, "a key must be a string");
		s_field(f, sizeof(f), base, key);
		if (!key[0] || key[0] == '-' ||
		    strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(key))
			return nb_yaml_err(&c->y, k, f,
					   "not a flag name (the long name without '--')");
		if (!strcmp(key, "json") || !strcmp(key, "duration"))
			return nb_yaml_err(&c->y, k, f,
					   "set by the runbook (duration is the step's own key)");
		for (int i = 0; i < st->n_flags; i++)
			if (!strcmp(st->flags[i].name, key))
				return nb_yaml_err(&c->y, k, f, "given twice");
		sv = nb_yaml_scalar(v);
		/* A flag without a value: true includes it, false leaves it out. */
		if (sv && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    (!strcmp(sv, "true") || !strcmp(sv, "false"))) {
			if (!strcmp(sv, "false"))
				continue;
		} else {
			rc = s_value(c, v, f, &val);
			if (rc)
				return rc;
		}
		rc = s_add_flag(c, st, v, f, key, val);
		if (rc)
			return rc;
	}
	return 0;
}

static int s_run(struct s_ctx *c, const yaml_node_t *y, const char *base, struct nb_rb_step *st)
{
	bool have_dur = false;
	char f[320];
	int rc;

	if (y->type != YAML_MAPPING_NODE)
		return nb_yaml_err(&c->y, y, base, "must be a mapping (tool, on, duration, flags)");
	for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = nb_yaml_node(&c->y, p->key), *v = nb_yaml_node(&c->y, p->value);
		const char *key = nb_yaml_scalar(k);

		if (!key)
			return nb_yaml_err(&c->y, k, base, "a key must be a string");
		s_field(f, sizeof(f), base, key);
		if (!strcmp(key, "tool")) {
			if (st->tool)
				return nb_yaml_err(&c->y, k, f, "given twice");
			rc = s_value(c, v, f, &st->tool);
			if (rc)
				return rc;
			st->tool_line = nb_yaml_line(v);
			if (c->chk && c->chk->tool && !c->chk->tool(c->chk->ctx, st->tool))
				return nb_yaml_err(&c->y, v, f,
						   "no tool '%s' (netblame-agent --list-tools)",
						   st->tool);
		} else if (!strcmp(key, "on")) {
			if (st->n_on)
				return nb_yaml_err(&c->y, k, f, "given twice");
			if (v->type == YAML_SEQUENCE_NODE) {
				for (yaml_node_item_t *it = v->data.sequence.items.start;
				     it < v->data.sequence.items.top; it++) {
					yaml_node_t *e = nb_yaml_node(&c->y, *it);
					char *name;

					rc = s_value(c, e, f, &name);
					if (!rc)
						rc = s_node_ref(c, st, e, f, name);
					free(name);
					if (rc)
						return rc;
				}
			} else {
				char *names, *save = NULL;

				rc = s_value(c, v, f, &names);
				if (rc)
					return rc;
				for (char *t = strtok_r(names, ",", &save); t && !rc;
				     t = strtok_r(NULL, ",", &save))
					rc = s_node_ref(c, st, v, f, t);
				free(names);
				if (rc)
					return rc;
			}
			if (!st->n_on)
				return nb_yaml_err(&c->y, v, f, "names no node");
		} else if (!strcmp(key, "duration")) {
			rc = s_seconds(c, v, f, 1, &st->duration_s);
			if (rc)
				return rc;
			have_dur = true;
		} else if (!strcmp(key, "flags")) {
			rc = s_flags(c, v, f, st);
			if (rc)
				return rc;
		} else {
			return nb_yaml_err(&c->y, k, f, "unknown key (tool, on, duration, flags)");
		}
	}
	if (!st->tool)
		return nb_yaml_err(&c->y, y, base, "tool is missing");
	if (!st->n_on)
		return nb_yaml_err(&c->y, y, base,
				   "on is missing (the node or nodes to run it on)");
	if (!have_dur)
		return nb_yaml_err(&c->y, y, base, "duration is missing (seconds the tool runs)");
	return 0;
}

static int s_step(struct s_ctx *c, const yaml_node_t *y, int idx)
{
	struct nb_rb_step *st = &c->rb->steps[idx];
	const yaml_node_t *when = NULL, *body = NULL;
	const char *kind = NULL;
	char base[128], f[192];
	int rc;

	snprintf(base, sizeof(base), "steps[%d]", idx);
	st->line = nb_yaml_line(y);
	if (y->type != YAML_MAPPING_NODE)
		return nb_yaml_err(&c->y, y, base,
				   "must be a mapping (name, and trace, run, wait "
				   "or verdict)");
	/* The name first: the other fields' messages say which step. */
	for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
	     p++) {
		const char *key = nb_yaml_scalar(nb_yaml_node(&c->y, p->key));
		yaml_node_t *v = nb_yaml_node(&c->y, p->value);
		const char *name = nb_yaml_scalar(v);

		if (!key || strcmp(key, "name"))
			continue;
		snprintf(f, sizeof(f), "%s.name", base);
		if (!name || !s_stepname_ok(name))
			return nb_yaml_err(&c->y, v, f,
					   "'%s' is not a step name (1-63 of "
					   "[A-Za-z0-9_-])",
					   name ? name : "?");
		for (int i = 0; i < c->rb->n_steps; i++)
			if (i != idx && !strcmp(c->rb->steps[i].name, name))
				return nb_yaml_err(&c->y, v, f, "step '%s' defined twice (line %d)",
						   name, c->rb->steps[i].line);
	}
	if (!st->name[0])
		return nb_yaml_err(&c->y, y, base, "name is missing");
	snprintf(base, sizeof(base), "steps.%s", st->name);
	for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = nb_yaml_node(&c->y, p->key), *v = nb_yaml_node(&c->y, p->value);
		const char *key = nb_yaml_scalar(k);

		if (!key)
			return nb_yaml_err(&c->y, k, base, "a key must be a string");
		s_field(f, sizeof(f), base, key);
		if (!strcmp(key, "name"))
			continue;
		if (!strcmp(key, "when")) {
			if (when)
				return nb_yaml_err(&c->y, k, f, "given twice");
			when = v;
		} else if (!strcmp(key, "timeout")) {
			rc = s_seconds(c, v, f, 1, &st->timeout_s);
			if (rc)
				return rc;
			st->timeout_line = nb_yaml_line(v);
		} else if (!strcmp(key, "trace") || !strcmp(key, "run") || !strcmp(key, "wait") ||
			   !strcmp(key, "verdict")) {
			if (body)
				return nb_yaml_err(
				    &c->y, k, f, "a step does one thing: it has %s already", kind);
			body = v;
			kind = key;
		} else {
			return nb_yaml_err(&c->y, k, f,
					   "unknown key (name, when, timeout, trace, run, wait, "
					   "verdict)");
		}
	}
	if (!body)
		return nb_yaml_err(&c->y, y, base,
				   "does nothing: give it trace, run, wait or "
				   "verdict");
	snprintf(f, sizeof(f), "%s.%s", base, kind);
	if (!strcmp(kind, "trace")) {
		st->kind = NB_RB_TRACE;
		rc = s_trace(c, body, f, st);
	} else if (!strcmp(kind, "run")) {
		st->kind = NB_RB_RUN;
		rc = s_run(c, body, f, st);
	} else if (!strcmp(kind, "wait")) {
		st->kind = NB_RB_WAIT;
		rc = s_seconds(c, body, f, 0, &st->wait_s);
	} else {
		char *v;

		st->kind = NB_RB_VERDICT;
		rc = s_value(c, body, f, &v);
		if (rc)
			return rc;
		for (int i = NB_VERDICT_HEALTHY; i <= NB_VERDICT_INCONCLUSIVE; i++)
			if (!strcmp(v, nb_verdict_name(i)))
				snprintf(st->verdict, sizeof(st->verdict), "%s", v);
		if (!st->verdict[0])
			rc = nb_yaml_err(&c->y, body, f,
					 "'%s' is not a verdict (HEALTHY, NETWORK, NODE_A, NODE_B, "
					 "DEST, INCONCLUSIVE)",
					 v);
		free(v);
	}
	if (rc)
		return rc;
	if (st->timeout_s && st->kind == NB_RB_VERDICT)
		return nb_yaml_err_line(&c->y, st->timeout_line, base,
					"a verdict step takes no timeout");
	if (when) {
		const char *text = nb_yaml_scalar(when);

		snprintf(f, sizeof(f), "%s.when", base);
		if (!text)
			return nb_yaml_err(&c->y, when, f,
					   "must be a condition, e.g. "
					   "trace.verdict == NODE_B");
		rc = s_subst(c, nb_yaml_line(when), f, text, &st->when_text);
		if (!rc)
			rc = s_cond_parse(c, text, nb_yaml_line(when), f, idx, &st->when);
		if (rc)
			return rc;
	}
	return 0;
}

static int s_steps(struct s_ctx *c, const yaml_node_t *y)
{
	int n;

	if (y->type != YAML_SEQUENCE_NODE)
		return nb_yaml_err(&c->y, y, "steps", "must be a list of steps");
	n = (int)(y->data.sequence.items.top - y->data.sequence.items.start);
	if (n == 0)
		return nb_yaml_err(&c->y, y, "steps", "no steps");
	if (n > NB_RB_MAX_STEPS)
		return nb_yaml_err(&c->y, y, "steps", "more than %d steps", NB_RB_MAX_STEPS);
	/* Names first, so a condition naming a later step can say so. */
	for (int i = 0; i < n; i++) {
		yaml_node_t *s = nb_yaml_node(&c->y, y->data.sequence.items.start[i]);

		c->rb->steps[i].line = nb_yaml_line(s);
		if (s->type != YAML_MAPPING_NODE)
			continue;
		for (yaml_node_pair_t *p = s->data.mapping.pairs.start;
		     p < s->data.mapping.pairs.top; p++) {
			const char *key = nb_yaml_scalar(nb_yaml_node(&c->y, p->key));
			const char *v = nb_yaml_scalar(nb_yaml_node(&c->y, p->value));

			if (key && !strcmp(key, "name") && v && s_stepname_ok(v))
				snprintf(c->rb->steps[i].name, sizeof(c->rb->steps[i].name), "%s",
					 v);
		}
	}
	c->rb->n_steps = n;
	for (int i = 0; i < n; i++) {
		int rc = s_step(c, nb_yaml_node(&c->y, y->data.sequence.items.start[i]), i);

		if (rc)
			return rc;
	}
	return 0;
}

static int s_vars(struct s_ctx *c, const yaml_node_t *y)
{
	char f[128];

	if (y->type != YAML_MAPPING_NODE)
		return nb_yaml_err(&c->y, y, "vars", "must be a mapping of NAME: default");
	for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = nb_yaml_node(&c->y, p->key), *v = nb_yaml_node(&c->y, p->value);
		const char *name = nb_yaml_scalar(k);
		const yaml_node_t *def = v;
		struct nb_rb_var *var;

		if (!name || !s_varname_ok(name, strlen(name)))
			return nb_yaml_err(&c->y, k, "vars",
					   "'%s' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
					   name ? name : "?");
		if (s_var(c->rb, name, strlen(name)))
			return nb_yaml_err(&c->y, k, "vars", "'%s' declared twice", name);
		if (c->rb->n_vars >= NB_RB_MAX_VARS)
			return nb_yaml_err(&c->y, k, "vars", "more than %d variables",
					   NB_RB_MAX_VARS);
		var = &c->rb->vars[c->rb->n_vars++];
		snprintf(var->name, sizeof(var->name), "%s", name);
		var->line = nb_yaml_line(k);
		snprintf(f, sizeof(f), "vars.%s", name);
		if (v->type == YAML_MAPPING_NODE) {
			def = NULL;
			for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
			     q < v->data.mapping.pairs.top; q++) {
				yaml_node_t *qk = nb_yaml_node(&c->y, q->key);
				yaml_node_t *qv = nb_yaml_node(&c->y, q->value);
				const char *key = nb_yaml_scalar(qk);

				if (key && !strcmp(key, "default") && !def) {
					def = qv;
				} else if (key && !strcmp(key, "help") && !var->help) {
					if (!nb_yaml_scalar(qv))
						return nb_yaml_err(&c->y, qv, f,
								   "help must be text");
					var->help = strdup(nb_yaml_scalar(qv));
					if (!var->help)
						return -ENOMEM;
					nb_yaml_oneline(var->help);
				} else {
					return nb_yaml_err(&c->y, qk, f,
							   "unknown or repeated key (default, "
							   "help)");
				}
			}
		}
		if (def && !nb_yaml_is_null(def)) {
			const char *s = nb_yaml_scalar(def);

			if (!s)
				return nb_yaml_err(&c->y, def, f, "the default must be one value");
			/* Defaults are taken as written: no ${} in them. */
			if (strlen(s) > NB_RB_VALUE_MAX)
				return nb_yaml_err(&c->y, def, f, "longer than %d bytes",
						   NB_RB_VALUE_MAX);
			for (const char *q = s; *q; q++)
				if (iscntrl((unsigned char)*q))
					return nb_yaml_err(&c->y, def, f,
							   "holds a control character");
			var->value = strdup(s);
			if (!var->value)
				return -ENOMEM;
		}
	}
	return 0;
}

/* --var NAME=VALUE over the declared variables. */
static int s_given(struct s_ctx *c, const char *const *vars, int n)
{
	for (int i = 0; i < n; i++) {
		const char *eq = strchr(vars[i], '=');
		struct nb_rb_var *v;
		char names[256] = "";

		if (!eq || !s_varname_ok(vars[i], (size_t)(eq - vars[i]))) {
			snprintf(c->y.err, c->y.errlen, "--var '%s' is not NAME=VALUE", vars[i]);
			nb_yaml_oneline(c->y.err);
			return -EINVAL;
		}
		v = (struct nb_rb_var *)s_var(c->rb, vars[i], (size_t)(eq - vars[i]));
		if (!v) {
			for (int j = 0; j < c->rb->n_vars; j++)
				snprintf(names + strlen(names), sizeof(names) - strlen(names),
					 "%s%s", j ? ", " : "", c->rb->vars[j].name);
			snprintf(c->y.err, c->y.errlen, "--var %.*s: %s has no such variable (%s)",
				 (int)(eq - vars[i]), vars[i], c->rb->path,
				 names[0] ? names : "it has none");
			nb_yaml_oneline(c->y.err);
			return -EINVAL;
		}
		if (v->given) {
			snprintf(c->y.err, c->y.errlen, "--var %s given twice", v->name);
			return -EINVAL;
		}
		for (const char *q = eq + 1; *q; q++)
			if (iscntrl((unsigned char)*q)) {
				snprintf(c->y.err, c->y.errlen,
					 "--var %s holds a control character", v->name);
				return -EINVAL;
			}
		if (strlen(eq + 1) > NB_RB_VALUE_MAX) {
			snprintf(c->y.err, c->y.errlen, "--var %s: longer than %d bytes", v->name,
				 NB_RB_VALUE_MAX);
			return -EINVAL;
		}
		free(v->value);
		v->value = strdup(eq + 1);
		if (!v->value)
			return -ENOMEM;
		v->given = true;
	}
	for (int i = 0; i < c->rb->n_vars; i++) {
		const struct nb_rb_var *v = &c->rb->vars[i];

		if (!v->value) {
			char f[96];

			snprintf(f, sizeof(f), "vars.%s", v->name);
			return nb_yaml_err_line(
			    &c->y, v->line, f, "required: give --var %s=VALUE%s%s%s", v->name,
			    v->help ? " (" : "", v->help ? v->help : "", v->help ? ")" : "");
		}
	}
	return 0;
}

static int s_root(struct s_ctx *c, const char *const *vars, int n_vars)
{
	yaml_node_t *root = yaml_document_get_root_node(&c->y.doc);
	const yaml_node_t *steps = NULL, *vdecl = NULL;
	int rc;

	if (!root || nb_yaml_is_null(root))
		return nb_yaml_err(&c->y, root, NULL, "empty: no steps");
	if (root->type != YAML_MAPPING_NODE)
		return nb_yaml_err(&c->y, root, NULL,
				   "must be a mapping with 'steps' (and 'vars')");
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = nb_yaml_node(&c->y, p->key), *v = nb_yaml_node(&c->y, p->value);
		const char *key = nb_yaml_scalar(k);
		const yaml_node_t **slot = NULL;

		if (key && !strcmp(key, "steps"))
			slot = &steps;
		else if (key && !strcmp(key, "vars"))
			slot = &vdecl;
		if (slot) {
			if (*slot)
				return nb_yaml_err(&c->y, k, key, "given twice");
			*slot = v;
		} else if (key && !strcmp(key, "name")) {
			const char *s = nb_yaml_scalar(v);

			if (!s || !s_stepname_ok(s))
				return nb_yaml_err(&c->y, v, "name",
						   "must be 1-63 of [A-Za-z0-9_-]");
			snprintf(c->rb->name, sizeof(c->rb->name), "%s", s);
		} else if (key && !strcmp(key, "description")) {
			if (!nb_yaml_scalar(v) || c->rb->description)
				return nb_yaml_err(&c->y, v, "description",
						   "must be text, given once");
			c->rb->description = strdup(nb_yaml_scalar(v));
			if (!c->rb->description)
				return -ENOMEM;
		} else {
			return nb_yaml_err(&c->y, k, key ? key : "?",
					   "unknown key (name, description, vars, steps)");
		}
	}
	if (!steps)
		return nb_yaml_err(&c->y, root, "steps", "missing");
	if (vdecl) {
		rc = s_vars(c, vdecl);
		if (rc)
			return rc;
	}
	rc = s_given(c, vars, n_vars);
	if (rc)
		return rc;
	return s_steps(c, steps);
}

int nb_runbook_parse(const char *text, size_t len, const char *path, const char *const *vars,
		     int n_vars, const struct nb_rb_check *chk, struct nb_runbook **out, char *err,
		     size_t errlen)
{
	struct s_ctx c = {.chk = chk};
	const char *base;
	int rc;

	*out = NULL;
	if (errlen)
		err[0] = 0;
	if (len > NB_RB_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %u bytes", path, NB_RB_MAX_BYTES);
		return -EINVAL;
	}
	c.rb = calloc(1, sizeof(*c.rb));
	if (!c.rb)
		return -ENOMEM;
	snprintf(c.rb->path, sizeof(c.rb->path), "%s", path);
	/* The name defaults to the file's, without folders and .yaml. */
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	snprintf(c.rb->name, sizeof(c.rb->name), "%.*s",
		 (int)(strcspn(base, ".") ? strcspn(base, ".") : strlen(base)), base);
	rc = nb_yaml_load(&c.y, text, len, path, err, errlen);
	if (!rc)
		rc = s_root(&c, vars, n_vars);
	nb_yaml_free(&c.y);
	if (rc) {
		if (rc == -ENOMEM && errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		nb_runbook_free(&c.rb);
		return rc;
	}
	*out = c.rb;
	return 0;
}

int nb_runbook_load(const char *path, const char *const *vars, int n_vars,
		    const struct nb_rb_check *chk, struct nb_runbook **out, char *err,
		    size_t errlen)
{
	char *buf;
	size_t len;
	int rc = nb_yaml_read_file(path, NB_RB_MAX_BYTES, "runbook", &buf, &len, err, errlen);

	*out = NULL;
	if (rc)
		return rc;
	rc = nb_runbook_parse(buf, len, path, vars, n_vars, chk, out, err, errlen);
	free(buf);
	return rc;
}

void nb_runbook_free(struct nb_runbook **prb)
{
	struct nb_runbook *rb = prb ? *prb : NULL;

	if (!rb)
		return;
	for (int i = 0; i < rb->n_vars; i++) {
		free(rb->vars[i].value);
		free(rb->vars[i].help);
	}
	for (int i = 0; i < rb->n_steps; i++) {
		struct nb_rb_step *s = &rb->steps[i];

		s_cond_free(s->when);
		free(s->when_text);
		free(s->tool);
		for (int j = 0; j < s->n_on; j++)
			free(s->on[j]);
		for (int j = 0; j < s->n_flags; j++) {
			free(s->flags[j].name);
			free(s->flags[j].value);
		}
	}
	free(rb->description);
	free(rb);
	*prb = NULL;
}
