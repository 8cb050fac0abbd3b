/*
 * check_search.c: search jobs end to end through job_run on the built-in synthetic data set,
 * from a float mlp trained here: a uniform search has one candidate per side pair, its front is
 * the brute-force front of its candidates, each budget recommends the most accurate candidate
 * within it and the search's model.qdc is the best candidate's; a sensitivity search's chosen
 * configurations cost exactly what the knapsack predicted and stay within their budgets; a
 * search stopped after a finished candidate, and one stopped inside a candidate, resume without
 * redoing what was finished and end as an uninterrupted run does; an AdaQAT sweep gives one
 * candidate per lambda. Also the spec: quant.layers of train specs and the search spec's
 * errors, each naming its field.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/job.h"
#include "tests/check_main.h"

static char g_base[512]; /* the float mlp's model.qdc */

typedef struct test_ctx {
    int partials;         /* on_partial calls */
    int last_done;
    int stop_after_done;  /* cancel once this many candidates are done (0: never) */
    int stop_after_epoch; /* cancel once this many epochs were reported (0: never) */
    int epochs;
    int epoch_of[64];     /* candidate of each reported epoch */
} test_ctx;

static void on_partial(void *vc, const json_t *p)
{
    test_ctx *c = vc;
    int done = (int)json_integer_value(json_object_get(p, "done"));
    ck_assert_int_eq(json_array_size(json_object_get(p, "candidates")), done);
    ck_assert_int_gt(done, c->last_done);
    c->last_done = done;
    c->partials++;
}

static void on_epoch(void *vc, const json_t *e, int epoch, int epochs)
{
    test_ctx *c = vc;
    (void)epoch, (void)epochs;
    if (c->epochs < 64)
        c->epoch_of[c->epochs] = (int)json_integer_value(json_object_get(e, "candidate"));
    c->epochs++;
}

static int cancelled(void *vc)
{
    test_ctx *c = vc;
    return (c->stop_after_done && c->last_done >= c->stop_after_done) ||
           (c->stop_after_epoch && c->epochs >= c->stop_after_epoch);
}

static char *make_dir(void)
{
    char *d = strdup("/tmp/qd-search-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static void remove_dir(char *d)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
    free(d);
}

static int run(const char *text, const char *dir, test_ctx *ctx, json_t **out)
{
    job_spec *spec = malloc(sizeof *spec);
    qd_err err = {0};
    int rc = spec_parse(spec, text, (long)strlen(text), &err);
    ck_assert_msg(rc == 0, "spec: %s: %s", err.field, err.msg);
    test_ctx none = {0};
    job_env env = {.dir = dir, .nthreads = 1, .ctx = ctx ? ctx : &none, .on_epoch = on_epoch,
                   .cancelled = cancelled, .on_partial = on_partial};
    *out = NULL;
    rc = job_run(spec, &env, out, &err);
    ck_assert_msg(rc == 0 || rc == QD_ECANCELLED, "job: %s: %s", err.field, err.msg);
    free(spec);
    return rc;
}

static double num(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }
static json_t *cands(const json_t *r) { return json_object_get(r, "candidates"); }
static double acc(const json_t *c) { return num(c, "test_accuracy"); }
static double total(const json_t *c) { return num(json_object_get(c, "memory"), "total_bytes"); }

/* The float base, trained once for the whole suite (an unchecked fixture: before the tests
 * fork). */
static char g_base_dir[64];

static void train_base(void)
{
    snprintf(g_base_dir, sizeof g_base_dir, "/tmp/qd-search-base-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_base_dir));
    snprintf(g_base, sizeof g_base, "%s/model.qdc", g_base_dir);
    /* in a child process: OpenMP's threads started here would not exist in the tests' forks */
    pid_t pid = fork();
    if (pid == 0) {
        json_t *r;
        int rc = run("{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"epochs\": 2, "
                     "\"subset\": {\"train\": 1024, \"test\": 256}}",
                     g_base_dir, NULL, &r);
        _exit(rc == 0 ? 0 : 1);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void remove_base(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_base_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_base_dir);
}

static char *spec_text(const char *fmt)
{
    char *s = malloc(4096);
    snprintf(s, 4096, fmt, g_base);
    return s;
}

#define SEARCH_HEAD                                                                                \
    "{\"kind\": \"search\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "                    \
    "\"subset\": {\"train\": 384, \"test\": 256}, \"base\": {\"checkpoint\": \"%s\"}, "

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

START_TEST(uniform_search_front_budgets_and_model)
{
    char *dir = make_dir(), *text = spec_text(
        SEARCH_HEAD "\"method\": \"uniform\", \"space\": {\"weight_bits\": [2, 4, 8], "
                    "\"activation_bits\": [4, 8], \"formats\": [\"int\", \"e2m1\"]}, "
                    "\"budgets\": {\"weight_bytes\": [80000, 150000, 10]}, \"finetune_epochs\": 0}");
    test_ctx ctx = {0};
    json_t *r;
    ck_assert_int_eq(run(text, dir, &ctx, &r), 0);
    json_t *cs = cands(r);
    /* weights: int2 int4 int8 e2m1; activations: int4 int8 e2m1 */
    ck_assert_int_eq(json_array_size(cs), 12);
    ck_assert_int_eq(ctx.partials, 12);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cs, 0), "format")), "w2a4");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cs, 11), "format")), "e2m1");
    /* the front over weight bytes is the brute-force one */
    size_t n = json_array_size(cs), nf = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(cs, i);
        double wa = num(json_object_get(a, "memory"), "weight_bytes");
        int dominated = 0;
        for (size_t j = 0; j < n && !dominated; j++) {
            json_t *b = json_array_get(cs, j);
            double wb = num(json_object_get(b, "memory"), "weight_bytes");
            dominated = j != i && wb <= wa && acc(b) >= acc(a) && (wb < wa || acc(b) > acc(a));
        }
        int on = 0;
        json_t *v;
        size_t k;
        json_array_foreach(json_object_get(r, "front"), k, v) on |= (size_t)json_integer_value(v) == i;
        ck_assert_int_eq(on, !dominated);
        nf += on;
    }
    ck_assert_int_eq(json_array_size(json_object_get(r, "front")), nf);
    ck_assert_str_eq(json_string_value(json_object_get(r, "front_x")), "weight_bytes");
    /* recommendations: the most accurate within each budget; none fits 10 bytes */
    json_t *bs = json_object_get(r, "budgets");
    ck_assert_int_eq(json_array_size(bs), 3);
    ck_assert(json_is_null(json_object_get(json_array_get(bs, 2), "recommended")));
    for (int b = 0; b < 2; b++) {
        json_t *e = json_array_get(bs, (size_t)b);
        double budget = num(e, "value");
        ck_assert(json_is_integer(json_object_get(e, "recommended")));
        json_t *rec = json_array_get(cs, (size_t)json_integer_value(json_object_get(e, "recommended")));
        ck_assert_double_le(num(json_object_get(rec, "memory"), "weight_bytes"), budget);
        for (size_t i = 0; i < n; i++)
            if (num(json_object_get(json_array_get(cs, i), "memory"), "weight_bytes") <= budget)
                ck_assert_double_le(acc(json_array_get(cs, i)), acc(rec));
    }
    /* the search's model is a copy of its best candidate's */
    int best = (int)num(r, "best");
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/model.qdc", dir);
    snprintf(b, sizeof b, "%s/candidates/%d/model.qdc", dir, best);
    ck_assert_int_gt(file_size(a), 0);
    ck_assert_int_eq(file_size(a), file_size(b));
    ck_assert_double_eq(acc(r), acc(json_array_get(cs, (size_t)best)));
    for (size_t i = 0; i < n; i++)
        ck_assert_double_le(acc(json_array_get(cs, i)), acc(r));
    json_decref(r);
    free(text);
    remove_dir(dir);
}
END_TEST

/* measure: "" (the default, the loss itself) or ", \"measure\": \"fisher\"" */
static void check_sensitivity_choices(const char *measure)
{
    char fmt[1024];
    snprintf(fmt, sizeof fmt, "%s",
             SEARCH_HEAD "\"method\": \"sensitivity\", \"space\": {\"weight_bits\": [2, 4, 8], "
                         "\"activation_bits\": [4, 8]}, \"calibration_batches\": 2, "
                         "\"budgets\": {\"total_bytes\": [80000, 150000, 400000, 1000]}, "
                         "\"finetune_epochs\": 0");
    strncat(fmt, measure, sizeof fmt - strlen(fmt) - 2);
    strcat(fmt, "}");
    char *dir = make_dir(), *text = spec_text(fmt);
    json_t *r;
    ck_assert_int_eq(run(text, dir, NULL, &r), 0);
    json_t *bs = json_object_get(r, "budgets"), *cs = cands(r);
    ck_assert_int_eq(json_array_size(bs), 4);
    ck_assert(json_is_null(json_object_get(json_array_get(bs, 3), "candidate")));
    ck_assert_int_ge(json_array_size(cs), 2);
    for (int b = 0; b < 3; b++) {
        json_t *e = json_array_get(bs, (size_t)b), *pred = json_object_get(e, "predicted");
        json_t *c = json_array_get(cs, (size_t)json_integer_value(json_object_get(e, "candidate")));
        ck_assert_double_le(total(c), num(e, "value"));
        ck_assert_double_eq(total(c), num(pred, "total_bytes"));
        ck_assert_double_eq(num(json_object_get(c, "memory"), "weight_bytes"),
                            num(pred, "weight_bytes"));
        ck_assert_double_eq(num(c, "bitops"), num(pred, "bitops"));
        ck_assert_int_eq(num(pred, "resolution"), 1);
        /* the candidate is a train spec with one entry per layer */
        json_t *q = json_object_get(json_object_get(c, "spec"), "quant");
        ck_assert_int_eq(json_array_size(json_object_get(q, "layers")), 3);
    }
    /* a larger budget never predicts a larger loss increase */
    double s0 = num(json_object_get(json_array_get(bs, 0), "predicted"), "sensitivity");
    double s2 = num(json_object_get(json_array_get(bs, 2), "predicted"), "sensitivity");
    ck_assert_double_le(s2, s0);
    json_t *sens = json_object_get(r, "sensitivity");
    ck_assert_str_eq(json_string_value(json_object_get(sens, "measure")),
                     measure[0] ? "fisher" : "loss");
    json_t *layers = json_object_get(sens, "layers");
    ck_assert_int_eq(json_array_size(layers), 3);
    ck_assert_int_eq(json_array_size(json_object_get(json_array_get(layers, 0), "options")), 6);
    /* the Fisher estimate is a sum of squares, and shrinks as either side gets more bits:
     * options are (w, a) in order w2a4 w2a8 w4a4 w4a8 w8a4 w8a8 */
    for (size_t l = 0; measure[0] && l < 3; l++) {
        json_t *o = json_object_get(json_array_get(layers, l), "options");
        double d[6];
        for (int k = 0; k < 6; k++)
            d[k] = num(json_array_get(o, (size_t)k), "delta_loss");
        ck_assert_double_ge(d[5], 0.0);
        ck_assert_double_ge(d[1], d[3]);
        ck_assert_double_ge(d[3], d[5]);
        ck_assert_double_ge(d[4], d[5]);
        ck_assert_double_ge(d[0], d[1]);
    }
    json_decref(r);
    free(text);
    remove_dir(dir);
}

START_TEST(sensitivity_choices_cost_what_was_predicted)
{
    check_sensitivity_choices("");
}
END_TEST

START_TEST(fisher_choices_cost_what_was_predicted)
{
    check_sensitivity_choices(", \"measure\": \"fisher\"");
}
END_TEST

/* Result fields that do not depend on timing, per candidate. */
static void assert_same_candidates(const json_t *a, const json_t *b)
{
    ck_assert_int_eq(json_array_size(cands(a)), json_array_size(cands(b)));
    for (size_t i = 0; i < json_array_size(cands(a)); i++) {
        json_t *x = json_array_get(cands(a), i), *y = json_array_get(cands(b), i);
        ck_assert_double_eq(acc(x), acc(y));
        ck_assert_double_eq(num(x, "test_loss"), num(y, "test_loss"));
        ck_assert_double_eq(total(x), total(y));
    }
    ck_assert(json_equal(json_object_get(a, "front"), json_object_get(b, "front")));
}

#define RESUME_SPEC                                                                                \
    SEARCH_HEAD "\"method\": \"sensitivity\", \"space\": {\"weight_bits\": [2, 8], "             \
                "\"activation_bits\": [8]}, \"calibration_batches\": 1, \"budgets\": "           \
                "{\"weight_bytes\": [70000, 140000, 300000]}, \"finetune_epochs\": 2}"

START_TEST(resume_skips_finished_candidates)
{
    char *ref = make_dir(), *dir = make_dir(), *text = spec_text(RESUME_SPEC);
    json_t *whole, *r;
    ck_assert_int_eq(run(text, ref, NULL, &whole), 0);
    int n = (int)json_array_size(cands(whole));
    ck_assert_int_ge(n, 2);
    /* stopped once the first candidate is finished */
    test_ctx first = {.stop_after_done = 1};
    ck_assert_int_eq(run(text, dir, &first, &r), QD_ECANCELLED);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(first.last_done, 1);
    char path[600];
    snprintf(path, sizeof path, "%s/candidates/0/result.json", dir);
    ck_assert_int_gt(file_size(path), 0);
    /* resumed: candidate 0 trains no epoch again; the others train both of theirs */
    test_ctx again = {0};
    ck_assert_int_eq(run(text, dir, &again, &r), 0);
    ck_assert_int_eq(again.epochs, 2 * (n - 1));
    for (int i = 0; i < again.epochs; i++)
        ck_assert_int_ne(again.epoch_of[i], 0);
    /* every candidate is reported, the finished one first, as it was read back */
    ck_assert_int_eq(again.partials, n);
    assert_same_candidates(whole, r);
    json_decref(r);
    json_decref(whole);
    free(text);
    remove_dir(ref);
    remove_dir(dir);
}
END_TEST

START_TEST(resume_inside_a_candidate_continues_from_its_epoch)
{
    char *ref = make_dir(), *dir = make_dir(), *text = spec_text(RESUME_SPEC);
    json_t *whole, *r;
    ck_assert_int_eq(run(text, ref, NULL, &whole), 0);
    int n = (int)json_array_size(cands(whole));
    /* stopped after candidate 1's first epoch (epochs reported: 2 of candidate 0, then 1) */
    test_ctx mid = {.stop_after_epoch = 3};
    ck_assert_int_eq(run(text, dir, &mid, &r), QD_ECANCELLED);
    ck_assert_int_eq(mid.last_done, 1);
    test_ctx again = {0};
    ck_assert_int_eq(run(text, dir, &again, &r), 0);
    /* one epoch of candidate 1, then both of each later candidate */
    ck_assert_int_eq(again.epochs, 1 + 2 * (n - 2));
    ck_assert_int_eq(again.epoch_of[0], 1);
    assert_same_candidates(whole, r);
    json_decref(r);
    json_decref(whole);
    free(text);
    remove_dir(ref);
    remove_dir(dir);
}
END_TEST

START_TEST(adaqat_sweep_gives_a_candidate_per_lambda)
{
    char *dir = make_dir(), *text = spec_text(
        SEARCH_HEAD "\"method\": \"adaqat\", \"space\": {\"weight_bits\": [2, 8], "
                    "\"activation_bits\": [4, 8]}, \"adaqat\": {\"lambdas\": [0, 50], "
                    "\"eta\": 2, \"interval\": 2}, \"finetune_epochs\": 1}");
    json_t *r;
    ck_assert_int_eq(run(text, dir, NULL, &r), 0);
    ck_assert_int_eq(json_array_size(cands(r)), 2);
    json_t *hi = json_array_get(cands(r), 1), *lo = json_array_get(cands(r), 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(hi, "spec"),
                                                                       "quant"),
                                                       "method")),
                     "adaqat");
    /* a large lambda costs less */
    ck_assert_double_lt(num(hi, "bitops"), num(lo, "bitops"));
    json_decref(r);
    free(text);
    remove_dir(dir);
}
END_TEST

START_TEST(quant_layers_give_each_layer_its_format)
{
    char *dir = make_dir(), *text = spec_text(
        "{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"epochs\": 1, \"subset\": {\"train\": "
        "256, \"test\": 128}, \"quant\": {\"method\": \"qat\", \"layers\": [{\"w_bits\": 2, "
        "\"a_bits\": 8}, {\"weights\": {\"format\": \"e3m2\"}, \"activations\": {\"format\": "
        "\"int\", \"bits\": 4}}, {\"w_bits\": 8, \"a_bits\": 6}]}, \"init\": {\"checkpoint\": "
        "\"%s\"}}");
    json_t *r;
    ck_assert_int_eq(run(text, dir, NULL, &r), 0);
    json_t *l = json_object_get(r, "layers");
    static const int w[] = {2, 6, 8}, a[] = {8, 4, 6};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(num(json_array_get(l, (size_t)i), "w_bits"), w[i]);
        ck_assert_int_eq(num(json_array_get(l, (size_t)i), "a_bits"), a[i]);
    }
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(l, 1), "w_format")), "e3m2");
    ck_assert_str_eq(json_string_value(json_object_get(r, "format")), "mixed");
    json_decref(r);
    free(text);
    remove_dir(dir);
}
END_TEST

/* ---- spec errors ---- */

typedef struct bad_case {
    const char *json;
    const char *field;
} bad_case;

#define S "{\"kind\": \"search\", \"dataset\": \"synthetic\", \"model\": \"mlp\", "
#define B "\"base\": {\"job\": \"0123456789abcdef\"}"
static const bad_case bad_cases[] = {
    {S "\"base\": {}}", "method"},
    {S "\"method\": \"grid\"}", "method"},
    {S "\"method\": \"uniform\", \"epochs\": 3}", "epochs"},
    {S "\"method\": \"uniform\", \"space\": {\"weight_bits\": [4, 4]}}", "space.weight_bits"},
    {S "\"method\": \"uniform\", \"space\": {\"weight_bits\": [9]}}", "space.weight_bits"},
    {S "\"method\": \"uniform\", \"space\": {\"activation_bits\": [1]}}", "space.activation_bits"},
    {S "\"method\": \"uniform\", \"space\": {\"formats\": [\"e9m9\"]}}", "space.formats[0]"},
    {S "\"method\": \"uniform\", \"space\": {\"formats\": [\"float\"]}}", "space.formats[0]"},
    {S "\"method\": \"uniform\", \"space\": {\"formats\": [\"e3m2\"], \"weight_bits\": [4]}}",
     "space.weight_bits"},
    {S "\"method\": \"uniform\", \"budgets\": {\"total_bytes\": [1], \"bitops\": [1]}}",
     "budgets"},
    {S "\"method\": \"uniform\", \"budgets\": {\"total_bytes\": [0]}}", "budgets.total_bytes"},
    {S "\"method\": \"uniform\", \"budgets\": {\"memory\": [10]}}", "budgets.memory"},
    {S "\"method\": \"sensitivity\", \"budgets\": {\"total_bytes\": [10]}}", "base"},
    {S "\"method\": \"sensitivity\", " B "}", "budgets"},
    {S "\"method\": \"uniform\", \"finetune_epochs\": 0}", "finetune_epochs"},
    {S "\"method\": \"adaqat\"}", "adaqat"},
    {S "\"method\": \"adaqat\", \"adaqat\": {\"lambdas\": []}}", "adaqat.lambdas"},
    {S "\"method\": \"adaqat\", \"adaqat\": {\"lambdas\": [1]}, \"space\": {\"formats\": "
       "[\"int\", \"e3m2\"]}}",
     "space.formats"},
    {S "\"method\": \"uniform\", \"adaqat\": {\"lambdas\": [1]}}", "adaqat"},
    {S "\"method\": \"uniform\", \"calibration_batches\": 2}", "calibration_batches"},
    {S "\"method\": \"uniform\", \"first_last_bits\": 1}", "first_last_bits"},
    {S "\"method\": \"uniform\", \"measure\": \"fisher\"}", "measure"},
    {S "\"method\": \"sensitivity\", " B ", \"budgets\": {\"bitops\": [1]}, \"measure\": \"hessian\"}",
     "measure"},
    {S "\"method\": \"uniform\", \"optimizer\": {\"lr\": -1}}", "optimizer.lr"},
    {S "\"method\": \"uniform\", \"subset\": {\"train\": \"all\"}}", "subset.train"},
    {S "\"method\": \"uniform\", \"base\": {\"job\": \"a\", \"checkpoint\": \"b\"}}", "base"},
    {"{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"quant\": {\"method\": \"adaqat\", "
     "\"layers\": [{\"w_bits\": 4}]}}",
     "quant.layers"},
    {"{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"quant\": {\"method\": \"qat\", "
     "\"first_last_bits\": 8, \"layers\": [{\"w_bits\": 4}]}}",
     "quant.first_last_bits"},
    {"{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"quant\": {\"method\": \"qat\", "
     "\"layers\": [{\"w_bits\": 4, \"weights\": {\"format\": \"int\"}}]}}",
     "quant.layers[0].w_bits"},
    {"{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"quant\": {\"method\": \"qat\", "
     "\"layers\": [{\"a_bits\": 1}]}}",
     "quant.layers[0].a_bits"},
    {"{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"quant\": {\"method\": \"qat\", "
     "\"layers\": [{}, {\"weights\": {\"format\": \"e9m9\"}}]}}",
     "quant.layers[1].weights.format"},
    {"{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"quant\": {\"method\": \"qat\", "
     "\"layers\": []}}",
     "quant.layers"},
};

START_TEST(bad_specs_name_their_field)
{
    const bad_case *c = &bad_cases[_i];
    job_spec *s = malloc(sizeof *s);
    qd_err err = {0};
    int rc = spec_parse(s, c->json, (long)strlen(c->json), &err);
    ck_assert_msg(rc == QD_ESPEC, "case %d: rc %d (%s)", _i, rc, err.msg);
    ck_assert_msg(strcmp(err.field, c->field) == 0, "case %d: field \"%s\", want \"%s\" (%s)", _i,
                  err.field, c->field, err.msg);
    free(s);
}
END_TEST

START_TEST(layer_count_is_checked_against_the_model)
{
    char *dir = make_dir();
    const char *text = "{\"dataset\": \"synthetic\", \"model\": \"mlp\", \"subset\": {\"train\": "
                       "128, \"test\": 64}, \"quant\": {\"method\": \"qat\", \"layers\": "
                       "[{\"w_bits\": 4}, {\"w_bits\": 4}]}}";
    job_spec *s = malloc(sizeof *s);
    qd_err err = {0};
    ck_assert_int_eq(spec_parse(s, text, (long)strlen(text), &err), 0);
    job_env env = {.dir = dir, .nthreads = 1};
    json_t *r = NULL;
    ck_assert_int_eq(job_run(s, &env, &r, &err), QD_ESPEC);
    ck_assert_str_eq(err.field, "quant.layers");
    ck_assert_ptr_nonnull(strstr(err.msg, "3 compute layers"));
    free(s);
    remove_dir(dir);
}
END_TEST

START_TEST(search_spec_defaults)
{
    const char *text = S "\"method\": \"uniform\"}";
    job_spec *s = malloc(sizeof *s);
    qd_err err = {0};
    ck_assert_int_eq(spec_parse(s, text, (long)strlen(text), &err), 0);
    ck_assert_int_eq(s->kind, JOB_SEARCH);
    const search_spec *q = &s->search;
    ck_assert_int_eq(q->n_weight_bits, 5);
    ck_assert_int_eq(q->weight_bits[4], 8);
    ck_assert_int_eq(q->n_activation_bits, 2);
    ck_assert_int_eq(q->n_formats, 1);
    ck_assert_int_eq(q->finetune_epochs, 1);
    ck_assert_int_eq(q->has_budgets, 0);
    ck_assert_int_eq(q->batch_size, 128);
    ck_assert_int_eq(q->per_channel, 1);
    free(s);
}
END_TEST

static Suite *search_suite(void)
{
    Suite *s = suite_create("search");
    TCase *spec = tcase_create("spec");
    tcase_add_loop_test(spec, bad_specs_name_their_field, 0,
                        (int)(sizeof bad_cases / sizeof *bad_cases));
    tcase_add_test(spec, layer_count_is_checked_against_the_model);
    tcase_add_test(spec, search_spec_defaults);
    suite_add_tcase(s, spec);
    TCase *run_tc = tcase_create("run");
    tcase_set_timeout(run_tc, 120);
    tcase_add_unchecked_fixture(run_tc, train_base, remove_base);
    tcase_add_test(run_tc, quant_layers_give_each_layer_its_format);
    tcase_add_test(run_tc, uniform_search_front_budgets_and_model);
    tcase_add_test(run_tc, sensitivity_choices_cost_what_was_predicted);
    tcase_add_test(run_tc, fisher_choices_cost_what_was_predicted);
    tcase_add_test(run_tc, resume_skips_finished_candidates);
    tcase_add_test(run_tc, resume_inside_a_candidate_continues_from_its_epoch);
    tcase_add_test(run_tc, adaqat_sweep_gives_a_candidate_per_lambda);
    suite_add_tcase(s, run_tc);
    return s;
}

QD_CHECK_MAIN(search_suite)
