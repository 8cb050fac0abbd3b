/*
 * check_spec.c: the job spec parser against the contract in DESIGN.md and spec.h. A table of
 * bad specs, each with the error code and the JSON path it must name; then good specs, each
 * checked field by field against the documented defaults and the values it states.
 *
 * Specs in the tables are written with single quotes for readability; spec() turns them into
 * JSON before parsing.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "jobs/spec.h"
#include "tests/check_main.h"

#define BASE "'dataset': 'synthetic', 'model': 'mlp'"
#define EPS 1e-12

static char text[4096];

/* Parses src with every ' turned into ". */
static int spec(job_spec *s, const char *src, qd_err *err)
{
    size_t n = strlen(src);
    ck_assert_uint_lt(n, sizeof text);
    for (size_t i = 0; i <= n; i++)
        text[i] = src[i] == '\'' ? '"' : src[i];
    memset(err, 0, sizeof *err);
    return spec_parse(s, text, (long)n, err);
}

/* ---- bad specs ---- */

typedef struct bad_case {
    const char *json;
    int code;
    const char *field;
} bad_case;

static const bad_case bad_cases[] = {
    /* the document */
    {"{" BASE ",", QD_EJSON, ""},
    {"", QD_EJSON, ""},
    {"{" BASE "} x", QD_EJSON, ""},
    {"{'dataset': 'a', 'dataset': 'b', 'model': 'mlp'}", QD_EJSON, ""},
    {"[1, 2]", QD_ESPEC, ""},
    {"'train'", QD_ESPEC, ""},
    {"null", QD_ESPEC, ""},
    /* kind and top-level fields */
    {"{'kind': 'search', " BASE "}", QD_ESPEC, "method"},
    {"{'kind': 'export', " BASE "}", QD_ESPEC, "model"}, /* a train spec's field */
    {"{'kind': 'fit', " BASE "}", QD_ESPEC, "kind"},
    {"{'kind': 1, " BASE "}", QD_ESPEC, "kind"},
    {"{" BASE ", 'lr': 0.1}", QD_ESPEC, "lr"},
    {"{'model': 'mlp'}", QD_ESPEC, "dataset"},
    {"{'dataset': 'synthetic'}", QD_ESPEC, "model"},
    {"{'dataset': 3, 'model': 'mlp'}", QD_ESPEC, "dataset"},
    {"{'dataset': '', 'model': 'mlp'}", QD_ESPEC, "dataset"},
    {"{" BASE ", 'name': ['a']}", QD_ESPEC, "name"},
    {"{" BASE ", 'epochs': 0}", QD_ESPEC, "epochs"},
    {"{" BASE ", 'epochs': 1001}", QD_ESPEC, "epochs"},
    {"{" BASE ", 'epochs': 2.5}", QD_ESPEC, "epochs"},
    {"{" BASE ", 'epochs': '3'}", QD_ESPEC, "epochs"},
    {"{" BASE ", 'batch_size': 0}", QD_ESPEC, "batch_size"},
    {"{" BASE ", 'batch_size': 4097}", QD_ESPEC, "batch_size"},
    {"{" BASE ", 'seed': -1}", QD_ESPEC, "seed"},
    {"{" BASE ", 'seed': '1'}", QD_ESPEC, "seed"},
    {"{" BASE ", 'augment': 1}", QD_ESPEC, "augment"},
    /* optimizer */
    {"{" BASE ", 'optimizer': 'sgd'}", QD_ESPEC, "optimizer"},
    {"{" BASE ", 'optimizer': {'name': 'adam'}}", QD_ESPEC, "optimizer.name"},
    {"{" BASE ", 'optimizer': {'lr': -0.1}}", QD_ESPEC, "optimizer.lr"},
    {"{" BASE ", 'optimizer': {'lr': 0}}", QD_ESPEC, "optimizer.lr"},
    {"{" BASE ", 'optimizer': {'lr': true}}", QD_ESPEC, "optimizer.lr"},
    {"{" BASE ", 'optimizer': {'momentum': 1.0}}", QD_ESPEC, "optimizer.momentum"},
    {"{" BASE ", 'optimizer': {'weight_decay': -1e-4}}", QD_ESPEC, "optimizer.weight_decay"},
    {"{" BASE ", 'optimizer': {'nesterov': 'yes'}}", QD_ESPEC, "optimizer.nesterov"},
    {"{" BASE ", 'optimizer': {'momentum': 0, 'nesterov': true}}", QD_ESPEC, "optimizer.nesterov"},
    {"{" BASE ", 'optimizer': {'foo': 1}}", QD_ESPEC, "optimizer.foo"},
    {"{" BASE ", 'optimizer': {'name': 'adamw', 'momentum': 0.9}}", QD_ESPEC, "optimizer.momentum"},
    {"{" BASE ", 'optimizer': {'name': 'sgd', 'beta1': 0.9}}", QD_ESPEC, "optimizer.beta1"},
    {"{" BASE ", 'optimizer': {'name': 'adamw', 'beta2': 1}}", QD_ESPEC, "optimizer.beta2"},
    {"{" BASE ", 'optimizer': {'name': 'adamw', 'eps': 0}}", QD_ESPEC, "optimizer.eps"},
    /* schedule */
    {"{" BASE ", 'schedule': 'linear'}", QD_ESPEC, "schedule"},
    {"{" BASE ", 'schedule': 5}", QD_ESPEC, "schedule"},
    {"{" BASE ", 'schedule': {'step_epochs': 2}}", QD_ESPEC, "schedule.name"},
    {"{" BASE ", 'schedule': {'name': 'exp'}}", QD_ESPEC, "schedule.name"},
    {"{" BASE ", 'schedule': {'name': 'cosine', 'gamma': 0.5}}", QD_ESPEC, "schedule.gamma"},
    {"{" BASE ", 'schedule': {'name': 'step', 'step_epochs': 0}}", QD_ESPEC,
     "schedule.step_epochs"},
    {"{" BASE ", 'schedule': {'name': 'step', 'gamma': 0}}", QD_ESPEC, "schedule.gamma"},
    {"{" BASE ", 'schedule': {'name': 'one-cycle', 'warmup_frac': 1}}", QD_ESPEC,
     "schedule.warmup_frac"},
    /* quant */
    {"{" BASE ", 'quant': 'qat'}", QD_ESPEC, "quant"},
    {"{" BASE ", 'quant': {'method': 'int8'}}", QD_ESPEC, "quant.method"},
    {"{" BASE ", 'quant': {'method': 'qat', 'bits': 4}}", QD_ESPEC, "quant.bits"},
    {"{" BASE ", 'quant': {'weights': {'format': 'int', 'bits': 4}}}", QD_ESPEC, "quant.weights"},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': 4}}", QD_ESPEC, "quant.weights"},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': 'int', 'bits': 9}}}", QD_ESPEC,
     "quant.weights.bits"},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': 'int', 'bits': 0}}}", QD_ESPEC,
     "quant.weights.bits"},
    {"{" BASE ", 'quant': {'method': 'qat', 'activations': {'format': 'int', 'bits': 1}}}",
     QD_ESPEC, "quant.activations.bits"},
    {"{" BASE ", 'quant': {'method': 'qat', 'activations': {'bits': 4, 'per_channel': true}}}",
     QD_ESPEC, "quant.activations.per_channel"},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': 'int', 'exponent': 4}}}",
     QD_ESPEC, "quant.weights.exponent"},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': 'int', 'signed': 1}}}", QD_ESPEC,
     "quant.weights.signed"},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': 'int4'}}}", QD_ESPEC,
     "quant.weights.format"},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': 4}}}", QD_ESPEC,
     "quant.weights.format"},
    {"{" BASE ", 'quant': {'method': 'qat', "
     "'weights': {'format': 'minifloat', 'exponent': 5, 'mantissa': 3}}}",
     QD_ESPEC, "quant.weights"},
    {"{" BASE ", 'quant': {'method': 'qat', "
     "'weights': {'format': 'minifloat', 'exponent': 0, 'mantissa': 3}}}",
     QD_ESPEC, "quant.weights.exponent"},
    {"{" BASE ", 'quant': {'method': 'qat', "
     "'weights': {'format': 'minifloat', 'exponent': 1, 'mantissa': 8}}}",
     QD_ESPEC, "quant.weights.mantissa"},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': 'minifloat', 'exponent': 4}}}",
     QD_ESPEC, "quant.weights"},
    {"{" BASE ", 'quant': {'method': 'qat', "
     "'weights': {'format': 'minifloat', 'exponent': 1, 'mantissa': 2, 'ieee': true}}}",
     QD_ESPEC, "quant.weights.ieee"},
    {"{" BASE ", 'quant': {'method': 'qat', "
     "'weights': {'format': 'minifloat', 'exponent': 3, 'mantissa': 2, 'bias': 100}}}",
     QD_ESPEC, "quant.weights.bias"},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': 'e4m3', 'bits': 8}}}", QD_ESPEC,
     "quant.weights.bits"},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': 'hfp8', 'stochastic': true}}}",
     QD_ESPEC, "quant.weights.stochastic"},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': 'float', 'per_channel': true}}}",
     QD_ESPEC, "quant.weights.per_channel"},
    {"{" BASE ", 'quant': {'method': 'qat', 'first_last_bits': 1}}", QD_ESPEC,
     "quant.first_last_bits"},
    {"{" BASE ", 'quant': {'method': 'qat', 'first_last_bits': 9}}", QD_ESPEC,
     "quant.first_last_bits"},
    {"{" BASE ", 'quant': {'method': 'qat', 'step_init': 'max'}}", QD_ESPEC, "quant.step_init"},
    {"{" BASE ", 'init': {'job': 'j1'}, 'quant': {'method': 'ptq', 'step_init': 'mmse'}}",
     QD_ESPEC, "quant.step_init"},
    /* ptq */
    {"{" BASE ", 'quant': {'method': 'ptq'}}", QD_ESPEC, "init"},
    {"{" BASE ", 'quant': {'method': 'qat', 'ptq': {}}}", QD_ESPEC, "quant.ptq"},
    {"{" BASE ", 'init': {'job': 'j1'}, "
     "'quant': {'method': 'ptq', 'ptq': {'calibration_batches': 0}}}",
     QD_ESPEC, "quant.ptq.calibration_batches"},
    {"{" BASE ", 'init': {'job': 'j1'}, 'quant': {'method': 'ptq', 'ptq': {'clipping': 'pct'}}}",
     QD_ESPEC, "quant.ptq.clipping"},
    {"{" BASE ", 'init': {'job': 'j1'}, 'quant': {'method': 'ptq', 'ptq': {'residual_bits': 1}}}",
     QD_ESPEC, "quant.ptq.residual_bits"},
    {"{" BASE ", 'init': {'job': 'j1'}, "
     "'quant': {'method': 'ptq', 'ptq': {'residual_threshold': -0.1}}}",
     QD_ESPEC, "quant.ptq.residual_threshold"},
    {"{" BASE ", 'init': {'job': 'j1'}, 'quant': {'method': 'ptq', 'ptq': {'bits': 4}}}", QD_ESPEC,
     "quant.ptq.bits"},
    /* adaqat */
    {"{" BASE ", 'quant': {'method': 'qat', 'adaqat': {}}}", QD_ESPEC, "quant.adaqat"},
    {"{" BASE ", 'quant': {'method': 'adaqat', 'adaqat': {'min_bits': 6, 'max_bits': 4}}}",
     QD_ESPEC, "quant.adaqat.min_bits"},
    {"{" BASE ", 'quant': {'method': 'adaqat', 'adaqat': {'max_bits': 9}}}", QD_ESPEC,
     "quant.adaqat.max_bits"},
    {"{" BASE ", 'quant': {'method': 'adaqat', 'adaqat': {'init_w_bits': 9}}}", QD_ESPEC,
     "quant.adaqat.init_w_bits"},
    {"{" BASE ", 'quant': {'method': 'adaqat', 'adaqat': {'min_bits': 4, 'init_a_bits': 3.5}}}",
     QD_ESPEC, "quant.adaqat.init_a_bits"},
    {"{" BASE ", 'quant': {'method': 'adaqat', 'adaqat': {'granularity': 'channel'}}}", QD_ESPEC,
     "quant.adaqat.granularity"},
    {"{" BASE ", 'quant': {'method': 'adaqat', 'adaqat': {'cost': 'latency'}}}", QD_ESPEC,
     "quant.adaqat.cost"},
    {"{" BASE ", 'quant': {'method': 'adaqat', 'adaqat': {'eta': 0}}}", QD_ESPEC,
     "quant.adaqat.eta"},
    {"{" BASE ", 'quant': {'method': 'adaqat', 'adaqat': {'lambda': -1}}}", QD_ESPEC,
     "quant.adaqat.lambda"},
    {"{" BASE ", 'quant': {'method': 'adaqat', 'adaqat': {'interval': 0}}}", QD_ESPEC,
     "quant.adaqat.interval"},
    {"{" BASE ", 'quant': {'method': 'adaqat', 'adaqat': {'foo': 1}}}", QD_ESPEC,
     "quant.adaqat.foo"},
    {"{" BASE ", 'quant': {'method': 'adaqat', 'weights': {'format': 'e4m3'}}}", QD_ESPEC,
     "quant.weights.format"},
    /* subset and init */
    {"{" BASE ", 'subset': {'train': -1}}", QD_ESPEC, "subset.train"},
    {"{" BASE ", 'subset': {'val': 100}}", QD_ESPEC, "subset.val"},
    {"{" BASE ", 'subset': [100, 10]}", QD_ESPEC, "subset"},
    {"{" BASE ", 'init': {'job': 'j1', 'checkpoint': 'c.ckpt'}}", QD_ESPEC, "init"},
    {"{" BASE ", 'init': {}}", QD_ESPEC, "init"},
    {"{" BASE ", 'init': {'path': 'c.ckpt'}}", QD_ESPEC, "init.path"},
    {"{" BASE ", 'init': {'job': 7}}", QD_ESPEC, "init.job"},
    {"{" BASE ", 'init': {'job': "
     "'0123456789012345678901234567890123456789012345678901234567890123456789'}}",
     QD_ESPEC, "init.job"},
};

START_TEST(test_bad_spec)
{
    const bad_case *c = &bad_cases[_i];
    job_spec s;
    qd_err err;
    int rc = spec(&s, c->json, &err);
    ck_assert_msg(rc == c->code, "case %d %s: got %s (%s: %s), want %s", _i, c->json,
                  qd_err_name(rc), err.field, err.msg, qd_err_name(c->code));
    ck_assert_msg(strcmp(err.field, c->field) == 0, "case %d %s: field \"%s\" (%s), want \"%s\"",
                  _i, c->json, err.field, err.msg, c->field);
    ck_assert_int_eq(err.code, c->code);
    ck_assert_msg(err.msg[0] != '\0', "case %d: empty message", _i);
}
END_TEST

/* ---- messages say what is wrong and what is allowed ---- */

typedef struct msg_case {
    const char *json;
    const char *needle;
} msg_case;

static const msg_case msg_cases[] = {
    {"{" BASE ", ", "line 1, column"},
    {"{'dataset': 'a', 'dataset': 'b', 'model': 'mlp'}", "duplicate"},
    {"[]", "spec must be a JSON object"},
    {"{'kind': 'search', " BASE "}", "\"sensitivity\""},
    {"{'kind': 'export', " BASE "}", "allowed: kind, name, job, checkpoint"},
    {"{" BASE ", 'optimizer': {'foo': 1}}", "allowed: name, lr, momentum"},
    {"{" BASE ", 'optimizer': {'lr': -0.1}}", "(0, 10]"},
    {"{" BASE ", 'schedule': 'linear'}", "\"one-cycle\""},
    {"{" BASE ", 'quant': {'method': 'qat', 'weights': {'bits': 9}}}", "1..8"},
    {"{" BASE ", 'quant': {'method': 'qat', 'activations': {'bits': 1}}}", "2..8"},
    {"{" BASE ", 'quant': {'method': 'qat', "
     "'weights': {'format': 'minifloat', 'exponent': 5, 'mantissa': 3}}}",
     "at most 8 bits"},
    {"{" BASE ", 'quant': {'method': 'ptq'}}", "init.job or init.checkpoint"},
};

START_TEST(test_bad_spec_message)
{
    const msg_case *c = &msg_cases[_i];
    job_spec s;
    qd_err err;
    ck_assert_int_ne(spec(&s, c->json, &err), 0);
    ck_assert_msg(strstr(err.msg, c->needle), "case %d: message \"%s\" lacks \"%s\"", _i, err.msg,
                  c->needle);
}
END_TEST

START_TEST(test_too_long_strings)
{
    static const struct {
        const char *fmt, *field;
    } cases[] = {
        {"{\"dataset\": \"d\", \"model\": \"m\", \"name\": \"%s\"}", "name"},
        {"{\"dataset\": \"%s\", \"model\": \"m\"}", "dataset"},
        {"{\"dataset\": \"d\", \"model\": \"%s\"}", "model"},
        {"{\"dataset\": \"d\", \"model\": \"m\", \"init\": {\"checkpoint\": \"%s\"}}",
         "init.checkpoint"},
    };
    char long_value[SPEC_STR + 1], json[600];
    memset(long_value, 'a', SPEC_STR);
    long_value[SPEC_STR] = '\0';
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        job_spec s;
        qd_err err = {0};
        snprintf(json, sizeof json, cases[i].fmt, long_value);
        ck_assert_int_eq(spec_parse(&s, json, (long)strlen(json), &err), QD_ESPEC);
        ck_assert_str_eq(err.field, cases[i].field);
        ck_assert_msg(strstr(err.msg, "too long"), "%s", err.msg);
        long_value[SPEC_STR - 1] = '\0'; /* one byte shorter fits */
        snprintf(json, sizeof json, cases[i].fmt, long_value);
        ck_assert_int_eq(spec_parse(&s, json, (long)strlen(json), &err), 0);
        long_value[SPEC_STR - 1] = 'a';
    }
}
END_TEST

/* ---- good specs ---- */

START_TEST(test_defaults)
{
    job_spec s;
    qd_err err;
    ck_assert_int_eq(spec(&s, "{" BASE "}", &err), 0);
    const train_spec *t = &s.train;
    ck_assert_int_eq(s.kind, JOB_TRAIN);
    ck_assert_str_eq(t->name, "");
    ck_assert_str_eq(t->dataset, "synthetic");
    ck_assert_str_eq(t->model, "mlp");
    ck_assert_int_eq(t->epochs, 1);
    ck_assert_int_eq(t->batch_size, 128);
    ck_assert_uint_eq(t->seed, 1);
    ck_assert_int_eq(t->optimizer.kind, OPT_SGD);
    ck_assert_double_eq_tol(t->optimizer.lr, 0.05, EPS);
    ck_assert_double_eq_tol(t->optimizer.momentum, 0.9, EPS);
    ck_assert_int_eq(t->optimizer.nesterov, 0);
    ck_assert_double_eq_tol(t->optimizer.weight_decay, 5e-4, EPS);
    ck_assert_int_eq(t->schedule.kind, SCHED_ONE_CYCLE);
    ck_assert_int_eq(t->schedule.step_epochs, 1);
    ck_assert_double_eq_tol(t->schedule.gamma, 0.1, EPS);
    ck_assert_double_eq_tol(t->schedule.warmup_frac, 0.3, EPS);
    ck_assert_int_eq(t->subset_train, 0);
    ck_assert_int_eq(t->subset_test, 0);
    ck_assert_int_eq(t->augment, -1);
    ck_assert_str_eq(t->init_job, "");
    ck_assert_str_eq(t->init_checkpoint, "");
}
END_TEST

START_TEST(test_quant_defaults)
{
    job_spec s;
    qd_err err;
    ck_assert_int_eq(spec(&s, "{" BASE "}", &err), 0);
    const quant_spec *q = &s.train.quant;
    ck_assert_int_eq(q->method, QM_NONE);
    ck_assert_int_eq(q->weights.format, QFMT_INT);
    ck_assert_int_eq(q->weights.bits, 8);
    ck_assert_int_eq(q->weights.per_channel, 1);
    ck_assert_int_eq(q->weights.is_signed, 1);
    ck_assert_int_eq(q->activations.format, QFMT_INT);
    ck_assert_int_eq(q->activations.bits, 8);
    ck_assert_int_eq(q->activations.per_channel, 0);
    ck_assert_int_eq(q->activations.is_signed, -1);
    ck_assert_int_eq(q->first_last_bits, 0);
    ck_assert_int_eq(q->step_init, QSTEP_AUTO);
    ck_assert_int_eq(spec(&s, "{" BASE ", 'quant': {'method': 'adaqat', 'step_init': 'mmse'}}",
                          &err), 0);
    ck_assert_int_eq(s.train.quant.step_init, QSTEP_MMSE);
    ck_assert_int_eq(spec(&s, "{" BASE "}", &err), 0);
    ck_assert_int_eq(q->adaqat.granularity, ADAQAT_NETWORK);
    ck_assert_double_eq_tol(q->adaqat.init_w_bits, 8, EPS);
    ck_assert_double_eq_tol(q->adaqat.init_a_bits, 8, EPS);
    ck_assert_double_eq_tol(q->adaqat.eta, 0.02, EPS);
    ck_assert_double_eq_tol(q->adaqat.lambda, 0.1, EPS);
    ck_assert_int_eq(q->adaqat.cost, ADAQAT_COST_BITOPS);
    ck_assert_int_eq(q->adaqat.interval, 20);
    ck_assert_int_eq(q->adaqat.min_bits, 2);
    ck_assert_int_eq(q->adaqat.max_bits, 8);
    ck_assert_int_eq(q->ptq.calibration_batches, 4);
    ck_assert_int_eq(q->ptq.clipping, 0);
    ck_assert_int_eq(q->ptq.residual, 1);
    ck_assert_double_eq_tol(q->ptq.residual_threshold, 0.01, EPS);
    ck_assert_int_eq(q->ptq.residual_bits, 8);
}
END_TEST

static const char design_example[] =
    "{\"kind\": \"train\", \"name\": \"cnn-s w4a4\", \"dataset\": \"fashion-mnist\", "
    "\"model\": \"cnn-s\",\n"
    " \"epochs\": 8, \"batch_size\": 128, \"seed\": 1,\n"
    " \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.05, \"momentum\": 0.9, \"nesterov\": true, "
    "\"weight_decay\": 0.0005},\n"
    " \"schedule\": \"one-cycle\",\n"
    " \"quant\": {\"method\": \"qat\",\n"
    "           \"weights\": {\"format\": \"int\", \"bits\": 4, \"per_channel\": true},\n"
    "           \"activations\": {\"format\": \"int\", \"bits\": 4},\n"
    "           \"first_last_bits\": 8},\n"
    " \"subset\": {\"train\": 60000, \"test\": 10000},\n"
    " \"init\": {\"job\": \"ID of a finished train job, to fine-tune from\"}}";

START_TEST(test_design_example)
{
    job_spec s;
    qd_err err = {0};
    ck_assert_int_eq(spec_parse(&s, design_example, (long)strlen(design_example), &err), 0);
    const train_spec *t = &s.train;
    ck_assert_int_eq(s.kind, JOB_TRAIN);
    ck_assert_str_eq(t->name, "cnn-s w4a4");
    ck_assert_str_eq(t->dataset, "fashion-mnist");
    ck_assert_str_eq(t->model, "cnn-s");
    ck_assert_int_eq(t->epochs, 8);
    ck_assert_int_eq(t->batch_size, 128);
    ck_assert_uint_eq(t->seed, 1);
    ck_assert_int_eq(t->optimizer.kind, OPT_SGD);
    ck_assert_double_eq_tol(t->optimizer.lr, 0.05, EPS);
    ck_assert_double_eq_tol(t->optimizer.momentum, 0.9, EPS);
    ck_assert_int_eq(t->optimizer.nesterov, 1);
    ck_assert_double_eq_tol(t->optimizer.weight_decay, 0.0005, EPS);
    ck_assert_int_eq(t->schedule.kind, SCHED_ONE_CYCLE);
    ck_assert_int_eq(t->schedule.step_epochs, 2);
    ck_assert_int_eq(t->quant.method, QM_QAT);
    ck_assert_int_eq(t->quant.weights.format, QFMT_INT);
    ck_assert_int_eq(t->quant.weights.bits, 4);
    ck_assert_int_eq(t->quant.weights.per_channel, 1);
    ck_assert_int_eq(t->quant.weights.is_signed, 1);
    ck_assert_int_eq(t->quant.activations.format, QFMT_INT);
    ck_assert_int_eq(t->quant.activations.bits, 4);
    ck_assert_int_eq(t->quant.activations.is_signed, -1);
    ck_assert_int_eq(t->quant.first_last_bits, 8);
    ck_assert_int_eq(t->subset_train, 60000);
    ck_assert_int_eq(t->subset_test, 10000);
    ck_assert_str_eq(t->init_job, "ID of a finished train job, to fine-tune from");
    ck_assert_str_eq(t->init_checkpoint, "");
}
END_TEST

START_TEST(test_not_nul_terminated)
{
    /* the parser reads len bytes only: the garbage after them must not matter */
    static const char buf[] = "{\"dataset\": \"synthetic\", \"model\": \"mlp\"}garbage";
    job_spec s;
    qd_err err = {0};
    ck_assert_int_eq(spec_parse(&s, buf, (long)strlen(buf) - 7, &err), 0);
    ck_assert_str_eq(s.train.model, "mlp");
}
END_TEST

START_TEST(test_optimizer_adamw)
{
    job_spec s;
    qd_err err;
    ck_assert_int_eq(spec(&s, "{" BASE ", 'optimizer': {'name': 'adamw', 'beta2': 0.99}}", &err),
                     0);
    const optim_spec *o = &s.train.optimizer;
    ck_assert_int_eq(o->kind, OPT_ADAMW);
    ck_assert_double_eq_tol(o->lr, 0.001, EPS);
    ck_assert_double_eq_tol(o->weight_decay, 0.01, EPS);
    ck_assert_double_eq_tol(o->beta1, 0.9, EPS);
    ck_assert_double_eq_tol(o->beta2, 0.99, EPS);
    ck_assert_double_eq_tol(o->eps, 1e-8, 1e-20);
}
END_TEST

typedef struct sched_case {
    const char *json;
    int kind, step_epochs;
    double gamma, warmup_frac;
} sched_case;

static const sched_case sched_cases[] = {
    {"{" BASE ", 'epochs': 9, 'schedule': 'constant'}", SCHED_CONSTANT, 3, 0.1, 0.3},
    {"{" BASE ", 'epochs': 9, 'schedule': 'cosine'}", SCHED_COSINE, 3, 0.1, 0.3},
    {"{" BASE ", 'epochs': 2, 'schedule': 'step'}", SCHED_STEP, 1, 0.1, 0.3},
    {"{" BASE ", 'epochs': 30, 'schedule': {'name': 'step', 'step_epochs': 4, 'gamma': 0.5}}",
     SCHED_STEP, 4, 0.5, 0.3},
    {"{" BASE ", 'schedule': {'name': 'one-cycle', 'warmup_frac': 0.25}}", SCHED_ONE_CYCLE, 1, 0.1,
     0.25},
    {"{" BASE ", 'schedule': {'name': 'cosine'}}", SCHED_COSINE, 1, 0.1, 0.3},
};

START_TEST(test_schedule)
{
    const sched_case *c = &sched_cases[_i];
    job_spec s;
    qd_err err;
    ck_assert_msg(spec(&s, c->json, &err) == 0, "%s: %s: %s", c->json, err.field, err.msg);
    ck_assert_int_eq(s.train.schedule.kind, c->kind);
    ck_assert_int_eq(s.train.schedule.step_epochs, c->step_epochs);
    ck_assert_double_eq_tol(s.train.schedule.gamma, c->gamma, EPS);
    ck_assert_double_eq_tol(s.train.schedule.warmup_frac, c->warmup_frac, EPS);
}
END_TEST

/* ---- formats ---- */

typedef struct fmt_case {
    const char *weights; /* the quant.weights object */
    int format, bits, e, m, per_channel, stochastic;
} fmt_case;

static const fmt_case fmt_cases[] = {
    {"{'format': 'int', 'bits': 4}", QFMT_INT, 4, 0, 0, 1, 0},
    {"{'bits': 2, 'per_channel': false}", QFMT_INT, 2, 0, 0, 0, 0},
    {"{'format': 'int', 'bits': 1}", QFMT_INT, 1, 0, 0, 1, 0},
    {"{'format': 'minifloat', 'exponent': 3, 'mantissa': 2}", QFMT_MINIFLOAT, 6, 3, 2, 1, 0},
    {"{'format': 'minifloat', 'exponent': 2, 'mantissa': 0, 'stochastic': true}", QFMT_MINIFLOAT, 3,
     2, 0, 1, 1},
    {"{'format': 'minifloat', 'exponent': 5, 'mantissa': 2, 'per_channel': false}", QFMT_MINIFLOAT,
     8, 5, 2, 0, 0},
    {"{'format': 'e4m3'}", QFMT_MINIFLOAT, 8, 4, 3, 1, 0},
    {"{'format': 'e5m2', 'stochastic': true}", QFMT_MINIFLOAT, 8, 5, 2, 1, 1},
    {"{'format': 'e3m2'}", QFMT_MINIFLOAT, 6, 3, 2, 1, 0},
    {"{'format': 'e2m3'}", QFMT_MINIFLOAT, 6, 2, 3, 1, 0},
    {"{'format': 'e2m1', 'per_channel': false}", QFMT_MINIFLOAT, 4, 2, 1, 0, 0},
    {"{'format': 'hfp8'}", QFMT_HFP8, 8, 4, 3, 1, 0},
    {"{'format': 'float'}", QFMT_FLOAT, 32, 0, 0, 0, 0},
};

START_TEST(test_weight_formats)
{
    const fmt_case *c = &fmt_cases[_i];
    char json[512];
    job_spec s;
    qd_err err;
    snprintf(json, sizeof json, "{" BASE ", 'quant': {'method': 'qat', 'weights': %s}}",
             c->weights);
    ck_assert_msg(spec(&s, json, &err) == 0, "%s: %s: %s", c->weights, err.field, err.msg);
    const quant_fmt *f = &s.train.quant.weights;
    ck_assert_int_eq(f->format, c->format);
    ck_assert_int_eq(f->bits, c->bits);
    ck_assert_int_eq(f->mf.e, c->e);
    ck_assert_int_eq(f->mf.m, c->m);
    ck_assert_int_eq(f->per_channel, c->per_channel);
    ck_assert_int_eq(f->stochastic, c->stochastic);
    ck_assert_int_eq(f->is_signed, 1);
    /* the activations keep their defaults */
    ck_assert_int_eq(s.train.quant.activations.format, QFMT_INT);
    ck_assert_int_eq(s.train.quant.activations.bits, 8);
}
END_TEST

START_TEST(test_minifloat_options)
{
    job_spec s;
    qd_err err;
    ck_assert_int_eq(spec(&s,
                          "{" BASE ", 'quant': {'method': 'qat', 'activations': {'format': "
                          "'minifloat', 'exponent': 4, 'mantissa': 3, 'bias': 10, 'ieee': true}}}",
                          &err),
                     0);
    const quant_fmt *f = &s.train.quant.activations;
    ck_assert_int_eq(f->format, QFMT_MINIFLOAT);
    ck_assert_int_eq(f->bits, 8);
    ck_assert_int_eq(f->mf.bias, 10);
    ck_assert_int_eq(f->mf.ieee, 1);
    ck_assert_int_eq(f->per_channel, 0);
    ck_assert_int_eq(f->is_signed, -1);
    ck_assert_int_eq(spec(&s,
                          "{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': "
                          "'minifloat', 'exponent': 3, 'mantissa': 4}}}",
                          &err),
                     0);
    ck_assert_int_eq(s.train.quant.weights.mf.bias, 3); /* 2^(E-1) - 1 */
    ck_assert_int_eq(s.train.quant.weights.mf.ieee, 0);
}
END_TEST

START_TEST(test_activation_signed)
{
    job_spec s;
    qd_err err;
    ck_assert_int_eq(spec(&s,
                          "{" BASE ", 'quant': {'method': 'qat', "
                          "'activations': {'format': 'int', 'bits': 4, 'signed': true}, "
                          "'weights': {'format': 'int', 'bits': 3, 'signed': false}}}",
                          &err),
                     0);
    ck_assert_int_eq(s.train.quant.activations.is_signed, 1);
    ck_assert_int_eq(s.train.quant.activations.bits, 4);
    ck_assert_int_eq(s.train.quant.weights.is_signed, 0);
    ck_assert_int_eq(s.train.quant.weights.bits, 3);
}
END_TEST

typedef struct name_case {
    const char *name;
    int rc, format, bits, e, m;
} name_case;

static const name_case name_cases[] = {
    {"int", 0, QFMT_INT, 8, 0, 0},        {"float", 0, QFMT_FLOAT, 32, 0, 0},
    {"hfp8", 0, QFMT_HFP8, 8, 4, 3},      {"e4m3", 0, QFMT_MINIFLOAT, 8, 4, 3},
    {"e5m2", 0, QFMT_MINIFLOAT, 8, 5, 2}, {"e3m2", 0, QFMT_MINIFLOAT, 6, 3, 2},
    {"e2m3", 0, QFMT_MINIFLOAT, 6, 2, 3}, {"e2m1", 0, QFMT_MINIFLOAT, 4, 2, 1},
    {"minifloat", QD_ESPEC, 0, 0, 0, 0},  {"e4m4", QD_ESPEC, 0, 0, 0, 0},
    {"INT", QD_ESPEC, 0, 0, 0, 0},        {"", QD_ESPEC, 0, 0, 0, 0},
};

START_TEST(test_format_name)
{
    const name_case *c = &name_cases[_i];
    quant_fmt f;
    qd_err err = {0};
    ck_assert_int_eq(spec_parse_format_name(&f, c->name, &err), c->rc);
    if (c->rc) {
        ck_assert_str_eq(err.field, "format");
        return;
    }
    ck_assert_int_eq(f.format, c->format);
    ck_assert_int_eq(f.bits, c->bits);
    ck_assert_int_eq(f.mf.e, c->e);
    ck_assert_int_eq(f.mf.m, c->m);
}
END_TEST

START_TEST(test_preset_flavours)
{
    job_spec s;
    qd_err err;
    ck_assert_int_eq(spec(&s,
                          "{" BASE ", 'quant': {'method': 'qat', 'weights': {'format': "
                          "'e4m3'}, 'activations': {'format': 'e5m2'}}}",
                          &err),
                     0);
    ck_assert_int_eq(s.train.quant.weights.mf.ocp, 1);
    ck_assert_int_eq(s.train.quant.activations.mf.ieee, 1);
}
END_TEST

/* ---- methods ---- */

START_TEST(test_ptq)
{
    job_spec s;
    qd_err err;
    ck_assert_int_eq(spec(&s,
                          "{" BASE ", 'init': {'checkpoint': 'runs/a.ckpt'}, "
                          "'quant': {'method': 'ptq', 'weights': {'format': 'int', 'bits': 3}, "
                          "'ptq': {'clipping': 'maxabs', 'residual': false}}}",
                          &err),
                     0);
    const train_spec *t = &s.train;
    ck_assert_int_eq(t->quant.method, QM_PTQ);
    ck_assert_int_eq(t->epochs, 0);
    ck_assert_str_eq(t->init_checkpoint, "runs/a.ckpt");
    ck_assert_str_eq(t->init_job, "");
    ck_assert_int_eq(t->quant.ptq.calibration_batches, 4);
    ck_assert_int_eq(t->quant.ptq.clipping, 1);
    ck_assert_int_eq(t->quant.ptq.residual, 0);
    ck_assert_int_eq(t->quant.ptq.residual_bits, 3);
    ck_assert_int_eq(spec(&s,
                          "{" BASE ", 'epochs': 2, 'init': {'job': 'j7'}, "
                          "'quant': {'method': 'ptq', 'ptq': {'residual_bits': 4}}}",
                          &err),
                     0);
    ck_assert_int_eq(s.train.epochs, 2);
    ck_assert_str_eq(s.train.init_job, "j7");
    ck_assert_int_eq(s.train.quant.ptq.residual_bits, 4);
    ck_assert_int_eq(s.train.quant.ptq.residual, 1);
}
END_TEST

START_TEST(test_adaqat)
{
    job_spec s;
    qd_err err;
    ck_assert_int_eq(spec(&s,
                          "{" BASE ", 'quant': {'method': 'adaqat', "
                          "'weights': {'bits': 6}, 'activations': {'bits': 5}}}",
                          &err),
                     0);
    const adaqat_spec *a = &s.train.quant.adaqat;
    ck_assert_double_eq_tol(a->init_w_bits, 6, EPS);
    ck_assert_double_eq_tol(a->init_a_bits, 5, EPS);
    ck_assert_int_eq(spec(&s,
                          "{" BASE ", 'quant': {'method': 'adaqat', 'adaqat': {"
                          "'granularity': 'layer', 'cost': 'memory', 'eta': 0.05, "
                          "'lambda': 0, 'interval': 5, 'min_bits': 3, 'max_bits': 6, "
                          "'init_a_bits': 4.5}}}",
                          &err),
                     0);
    ck_assert_int_eq(a->granularity, ADAQAT_LAYER);
    ck_assert_int_eq(a->cost, ADAQAT_COST_MEMORY);
    ck_assert_double_eq_tol(a->eta, 0.05, EPS);
    ck_assert_double_eq_tol(a->lambda, 0, EPS);
    ck_assert_int_eq(a->interval, 5);
    ck_assert_int_eq(a->min_bits, 3);
    ck_assert_int_eq(a->max_bits, 6);
    ck_assert_double_eq_tol(a->init_w_bits, 6, EPS); /* weights.bits 8 held to max_bits */
    ck_assert_double_eq_tol(a->init_a_bits, 4.5, EPS);
}
END_TEST

START_TEST(test_misc_fields)
{
    job_spec s;
    qd_err err;
    ck_assert_int_eq(spec(&s,
                          "{'kind': 'train', " BASE ", 'augment': false, 'seed': "
                          "9007199254740993, 'subset': {'test': 500}, 'batch_size': 4096, "
                          "'epochs': 1000, 'quant': {'method': 'none'}}",
                          &err),
                     0);
    ck_assert_int_eq(s.train.augment, 0);
    ck_assert_uint_eq(s.train.seed, 9007199254740993ULL);
    ck_assert_int_eq(s.train.subset_train, 0);
    ck_assert_int_eq(s.train.subset_test, 500);
    ck_assert_int_eq(s.train.batch_size, 4096);
    ck_assert_int_eq(s.train.epochs, 1000);
    ck_assert_int_eq(s.train.schedule.step_epochs, 333);
}
END_TEST

Suite *spec_suite(void)
{
    Suite *s = suite_create("spec");
    TCase *bad = tcase_create("bad");
    tcase_add_loop_test(bad, test_bad_spec, 0, sizeof bad_cases / sizeof bad_cases[0]);
    tcase_add_loop_test(bad, test_bad_spec_message, 0, sizeof msg_cases / sizeof msg_cases[0]);
    tcase_add_test(bad, test_too_long_strings);
    suite_add_tcase(s, bad);
    TCase *good = tcase_create("good");
    tcase_add_test(good, test_defaults);
    tcase_add_test(good, test_quant_defaults);
    tcase_add_test(good, test_design_example);
    tcase_add_test(good, test_not_nul_terminated);
    tcase_add_test(good, test_optimizer_adamw);
    tcase_add_loop_test(good, test_schedule, 0, sizeof sched_cases / sizeof sched_cases[0]);
    tcase_add_test(good, test_misc_fields);
    suite_add_tcase(s, good);
    TCase *fmt = tcase_create("formats");
    tcase_add_loop_test(fmt, test_weight_formats, 0, sizeof fmt_cases / sizeof fmt_cases[0]);
    tcase_add_test(fmt, test_minifloat_options);
    tcase_add_test(fmt, test_activation_signed);
    tcase_add_loop_test(fmt, test_format_name, 0, sizeof name_cases / sizeof name_cases[0]);
    tcase_add_test(fmt, test_preset_flavours);
    suite_add_tcase(s, fmt);
    TCase *methods = tcase_create("methods");
    tcase_add_test(methods, test_ptq);
    tcase_add_test(methods, test_adaqat);
    suite_add_tcase(s, methods);
    return s;
}

QD_CHECK_MAIN(spec_suite)
