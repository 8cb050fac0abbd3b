/*
 * check_modelfile.c: model files against the format in jobs/modelfile.h. A table of bad files,
 * each with the JSON path the error must name; the zoo in models/ loaded and checked layer by
 * layer against the networks it documents; the search order of zoo names; the layer kind names
 * of core/model_desc.h. Run from the repository root so that ./models is the zoo.
 *
 * Files in the tables are written with single quotes for readability; parse() turns them into
 * JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/modelfile.h"
#include "tests/check_main.h"

static char text[8192];

static int parse(model_desc *d, const char *src, qd_err *err)
{
    size_t n = strlen(src);
    ck_assert_uint_lt(n, sizeof text);
    for (size_t i = 0; i <= n; i++)
        text[i] = src[i] == '\'' ? '"' : src[i];
    memset(err, 0, sizeof *err);
    return modelfile_parse(d, text, (long)n, err);
}

static model_desc desc; /* large: keep it off the stack */

/* ---- bad files ---- */

#define CONV3 "{'type': 'conv', 'out': 8, 'kernel': 3}"

typedef struct bad_case {
    const char *json;
    const char *field;
} bad_case;

static const bad_case bad_cases[] = {
    /* the document */
    {"{'layers': [", ""},
    {"[" CONV3 "]", ""},
    {"{'name': 'a', 'name': 'b', 'layers': [" CONV3 "]}", ""},
    {"{'inputs': [1, 28, 28], 'layers': [" CONV3 "]}", "inputs"},
    {"{'name': 'my net', 'layers': [" CONV3 "]}", "name"},
    {"{'name': 7, 'layers': [" CONV3 "]}", "name"},
    {"{'description': 3, 'layers': [" CONV3 "]}", "description"},
    {"{'input': [1, 28], 'layers': [" CONV3 "]}", "input"},
    {"{'input': [0, 28, 28], 'layers': [" CONV3 "]}", "input"},
    {"{'input': '1x28x28', 'layers': [" CONV3 "]}", "input"},
    {"{'name': 'x'}", "layers"},
    {"{'layers': []}", "layers"},
    {"{'layers': {'type': 'relu'}}", "layers"},
    /* types and fields */
    {"{'layers': [1]}", "layers[0]"},
    {"{'layers': [{'out': 8}]}", "layers[0].type"},
    {"{'layers': [{'type': 'dense', 'out': 8}]}", "layers[0].type"},
    {"{'layers': [{'type': 3}]}", "layers[0].type"},
    {"{'layers': [{'type': 'conv', 'kernel': 3}]}", "layers[0].out"},
    {"{'layers': [{'type': 'conv', 'out': 0, 'kernel': 3}]}", "layers[0].out"},
    {"{'layers': [{'type': 'conv', 'out': 65537, 'kernel': 3}]}", "layers[0].out"},
    {"{'layers': [{'type': 'conv', 'out': '8', 'kernel': 3}]}", "layers[0].out"},
    {"{'layers': [{'type': 'conv', 'out': 8}]}", "layers[0].kernel"},
    {"{'layers': [" CONV3 ", {'type': 'relu'}, {'type': 'maxpool', 'kernel': 2}, "
     "{'type': 'conv', 'out': 8, 'kernel': 12}]}",
     "layers[3].kernel"},
    {"{'layers': [{'type': 'conv', 'out': 8, 'kernel': 3.0}]}", "layers[0].kernel"},
    {"{'layers': [{'type': 'conv', 'out': 8, 'kernel': 0}]}", "layers[0].kernel"},
    {"{'layers': [{'type': 'conv', 'out': 8, 'kernel': 3, 'stride': 9}]}", "layers[0].stride"},
    {"{'layers': [{'type': 'conv', 'out': 8, 'kernel': 3, 'stride': 0}]}", "layers[0].stride"},
    {"{'layers': [{'type': 'conv', 'out': 8, 'kernel': 3, 'padding': 3}]}", "layers[0].padding"},
    {"{'layers': [{'type': 'conv', 'out': 8, 'kernel': 3, 'padding': -1}]}", "layers[0].padding"},
    {"{'layers': [{'type': 'conv', 'out': 8, 'kernel': 3, 'bias': 1}]}", "layers[0].bias"},
    {"{'layers': [{'type': 'conv', 'out': 8, 'kernel': 3, 'groups': 2}]}", "layers[0].groups"},
    {"{'layers': [" CONV3 ", {'type': 'relu', 'out': 8}]}", "layers[1].out"},
    {"{'layers': [" CONV3 ", {'type': 'batchnorm', 'eps': 0.001}]}", "layers[1].eps"},
    {"{'layers': [" CONV3 ", {'type': 'linear'}]}", "layers[1].out"},
    {"{'layers': [" CONV3 ", {'type': 'linear', 'out': 10, 'kernel': 1}]}", "layers[1].kernel"},
    {"{'layers': [" CONV3 ", {'type': 'maxpool'}]}", "layers[1].kernel"},
    {"{'layers': [" CONV3 ", {'type': 'maxpool', 'kernel': 2, 'stride': 12}]}", "layers[1].stride"},
    {"{'layers': [" CONV3 ", {'type': 'avgpool', 'kernel': 2, 'padding': 2}]}",
     "layers[1].padding"},
    {"{'layers': [" CONV3 ", {'type': 'global_avgpool', 'kernel': 2}]}", "layers[1].kernel"},
    {"{'layers': [" CONV3 ", {'type': 'flatten', 'bias': true}]}", "layers[1].bias"},
    /* inputs */
    {"{'layers': [" CONV3 ", " CONV3 ", {'type': 'add', 'input': 'conv0'}]}", "layers[2].input"},
    {"{'layers': [" CONV3 ", " CONV3 ", {'type': 'add', 'inputs': ['conv0']}]}",
     "layers[2].inputs"},
    {"{'layers': [" CONV3 ", " CONV3 ", {'type': 'add', 'inputs': ['conv0', 'conv1', 'conv1']}]}",
     "layers[2].inputs"},
    {"{'layers': [" CONV3 ", " CONV3 ", {'type': 'add'}]}", "layers[2].inputs"},
    {"{'layers': [" CONV3 ", " CONV3 ", {'type': 'add', 'inputs': 'conv0'}]}", "layers[2].inputs"},
    {"{'layers': [" CONV3 ", " CONV3 ", {'type': 'add', 'inputs': ['conv0', 'conv9']}]}",
     "layers[2].inputs[1]"},
    {"{'layers': [" CONV3 ", " CONV3 ", {'type': 'add', 'inputs': [0, 1]}]}",
     "layers[2].inputs[0]"},
    {"{'layers': [" CONV3 ", {'type': 'relu', 'input': 'conv7'}]}", "layers[1].input"},
    {"{'layers': [" CONV3 ", {'type': 'relu', 'input': 0}]}", "layers[1].input"},
    {"{'layers': [" CONV3 ", {'type': 'relu', 'input': 'input'}]}", "layers[1].input"},
    {"{'layers': [{'type': 'relu', 'input': 'r1'}, {'type': 'relu', 'name': 'r1'}]}",
     "layers[0].input"},
    {"{'layers': [" CONV3 ", {'type': 'relu', 'name': 'r', 'input': 'r'}]}", "layers[1].input"},
    {"{'layers': [" CONV3 ", " CONV3 ", {'type': 'add', 'name': 'a', 'inputs': ['a', 'conv0']}]}",
     "layers[2].inputs[0]"},
    /* names */
    {"{'layers': [{'type': 'relu', 'name': 'r'}, {'type': 'relu', 'name': 'r'}]}",
     "layers[1].name"},
    {"{'layers': [{'type': 'relu', 'name': 'relu1'}, {'type': 'relu'}]}", "layers[1].name"},
    {"{'layers': [{'type': 'relu', 'name': '@input'}]}", "layers[0].name"},
    {"{'layers': [{'type': 'relu', 'name': ''}]}", "layers[0].name"},
    {"{'layers': [{'type': 'relu', 'name': 'a b'}]}", "layers[0].name"},
    {"{'layers': [{'type': 'relu', 'name': 5}]}", "layers[0].name"},
    {"{'layers': [{'type': 'relu', 'name': '0123456789012345678901234567890123'}]}",
     "layers[0].name"},
};

START_TEST(test_bad_file)
{
    const bad_case *c = &bad_cases[_i];
    qd_err err;
    int rc = parse(&desc, c->json, &err);
    ck_assert_msg(rc == QD_EMODEL, "case %d %s: got %s (%s: %s)", _i, c->json, qd_err_name(rc),
                  err.field, err.msg);
    ck_assert_msg(strcmp(err.field, c->field) == 0, "case %d %s: field \"%s\" (%s), want \"%s\"",
                  _i, c->json, err.field, err.msg, c->field);
    ck_assert_msg(err.msg[0] != '\0', "case %d: empty message", _i);
}
END_TEST

typedef struct msg_case {
    const char *json;
    const char *msg; /* the whole message, or with a trailing '*' its beginning */
} msg_case;

static const msg_case msg_cases[] = {
    {"{'layers': [" CONV3 ", {'type': 'relu'}, {'type': 'maxpool', 'kernel': 2}, "
     "{'type': 'conv', 'out': 8, 'kernel': 12}]}",
     "layer 3 (conv3): kernel must be an integer in 1..11"},
    {"{'layers': [{'type': 'conv', 'name': 'c1', 'out': 8, 'kernel': 3, 'padding': 3}]}",
     "layer 0 (c1): padding must be an integer in 0..2"},
    {"{'layers': [{'type': 'dense', 'name': 'd'}]}", "layer 0 (d): unknown type \"dense\"*"},
    {"{'layers': [{'type': 'dense'}]}", "layer 0: unknown type \"dense\"; allowed: conv, *"},
    {"{'layers': [" CONV3 ", {'type': 'relu', 'input': 'conv7'}]}",
     "layer 1 (relu1): input \"conv7\": no layer has that name*"},
    {"{'layers': [{'type': 'relu', 'input': 'r1'}, {'type': 'relu', 'name': 'r1'}]}",
     "layer 0 (relu0): input \"r1\" is layer 1: a layer can only read earlier layers"},
    {"{'layers': [{'type': 'relu', 'name': 'r'}, {'type': 'relu', 'name': 'r'}]}",
     "layer 1 (r): name \"r\" is already used by layer 0"},
    {"{'layers': [{'type': 'conv', 'out': 8, 'kernel': 3, 'groups': 2}]}",
     "layer 0 (conv0): unknown field \"groups\" for type conv; allowed: type, name, input, out, "
     "kernel, stride, padding, bias"},
    {"{'layers': [", "malformed JSON at line 1, column *"},
};

START_TEST(test_bad_file_message)
{
    const msg_case *c = &msg_cases[_i];
    qd_err err;
    ck_assert_int_eq(parse(&desc, c->json, &err), QD_EMODEL);
    size_t n = strlen(c->msg);
    if (c->msg[n - 1] == '*')
        ck_assert_msg(strncmp(err.msg, c->msg, n - 1) == 0, "got \"%s\", want \"%s\"", err.msg,
                      c->msg);
    else
        ck_assert_str_eq(err.msg, c->msg);
}
END_TEST

START_TEST(test_too_many_layers)
{
    static char big[MODEL_MAX_LAYERS * 24 + 64];
    qd_err err = {0};
    for (int n = MODEL_MAX_LAYERS; n <= MODEL_MAX_LAYERS + 1; n++) {
        size_t used = (size_t)snprintf(big, sizeof big, "{\"layers\": [");
        for (int i = 0; i < n; i++)
            used += (size_t)snprintf(big + used, sizeof big - used, "%s{\"type\": \"relu\"}",
                                     i ? "," : "");
        used += (size_t)snprintf(big + used, sizeof big - used, "]}");
        ck_assert_uint_lt(used, sizeof big);
        int rc = modelfile_parse(&desc, big, (long)used, &err);
        if (n == MODEL_MAX_LAYERS) {
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(desc.n_layers, MODEL_MAX_LAYERS);
            ck_assert_str_eq(desc.layers[MODEL_MAX_LAYERS - 1].name, "relu255");
        } else {
            ck_assert_int_eq(rc, QD_EMODEL);
            ck_assert_str_eq(err.field, "layers");
        }
    }
}
END_TEST

/* ---- good files: defaults and wiring ---- */

START_TEST(test_defaults)
{
    qd_err err;
    ck_assert_int_eq(parse(&desc,
                           "{'name': 'toy', 'input': [3, 32, 16], 'layers': ["
                           "{'type': 'conv', 'out': 8, 'kernel': 3}, "
                           "{'type': 'maxpool', 'kernel': 3}, "
                           "{'type': 'avgpool', 'kernel': 2, 'stride': 1, 'padding': 1}, "
                           "{'type': 'linear', 'name': 'fc', 'out': 4, 'bias': false}]}",
                           &err),
                     0);
    ck_assert_str_eq(desc.name, "toy");
    ck_assert_int_eq(desc.in_c, 3);
    ck_assert_int_eq(desc.in_h, 32);
    ck_assert_int_eq(desc.in_w, 16);
    ck_assert_int_eq(desc.n_layers, 4);
    const layer_desc *l = desc.layers;
    ck_assert_str_eq(l[0].name, "conv0");
    ck_assert_int_eq(l[0].kind, LK_CONV);
    ck_assert_int_eq(l[0].out, 8);
    ck_assert_int_eq(l[0].kernel, 3);
    ck_assert_int_eq(l[0].stride, 1);
    ck_assert_int_eq(l[0].pad, 0);
    ck_assert_int_eq(l[0].bias, 1);
    ck_assert_int_eq(l[0].nin, 1);
    ck_assert_int_eq(l[0].in[0], -1);
    ck_assert_str_eq(l[1].name, "maxpool1");
    ck_assert_int_eq(l[1].kernel, 3);
    ck_assert_int_eq(l[1].stride, 3);
    ck_assert_int_eq(l[1].pad, 0);
    ck_assert_int_eq(l[1].in[0], 0);
    ck_assert_str_eq(l[2].name, "avgpool2");
    ck_assert_int_eq(l[2].stride, 1);
    ck_assert_int_eq(l[2].pad, 1);
    ck_assert_str_eq(l[3].name, "fc");
    ck_assert_int_eq(l[3].out, 4);
    ck_assert_int_eq(l[3].bias, 0);
    ck_assert_int_eq(l[3].in[0], 2);
}
END_TEST

START_TEST(test_inputs)
{
    qd_err err;
    ck_assert_int_eq(parse(&desc,
                           "{'layers': ["
                           "{'type': 'conv', 'name': 'a', 'out': 4, 'kernel': 1}, "
                           "{'type': 'relu'}, "
                           "{'type': 'conv', 'name': 'b', 'input': '@input', 'out': 4, "
                           "'kernel': 1}, "
                           "{'type': 'add', 'inputs': ['relu1', 'b']}, "
                           "{'type': 'add', 'inputs': ['@input', 'add3']}, "
                           "{'type': 'relu', 'input': 'a'}]}",
                           &err),
                     0);
    const layer_desc *l = desc.layers;
    ck_assert_str_eq(desc.name, "");
    ck_assert_int_eq(desc.in_c, 0);
    ck_assert_int_eq(l[2].in[0], -1);
    ck_assert_int_eq(l[3].nin, 2);
    ck_assert_int_eq(l[3].in[0], 1);
    ck_assert_int_eq(l[3].in[1], 2);
    ck_assert_int_eq(l[4].in[0], -1);
    ck_assert_int_eq(l[4].in[1], 3);
    ck_assert_int_eq(l[5].nin, 1);
    ck_assert_int_eq(l[5].in[0], 0);
}
END_TEST

/* ---- the zoo ---- */

static void load_zoo(const char *name)
{
    qd_err err = {0};
    int rc = modelfile_load(&desc, name, NULL, &err);
    ck_assert_msg(rc == 0, "%s: %s: %s", name, err.field, err.msg);
    ck_assert_str_eq(desc.name, name);
}

/* The kinds of the layers, in order, written as one letter each. */
static void assert_kinds(const char *kinds)
{
    static const char letters[LK_COUNT + 1] = "clbrmagtf"; /* enum layer_kind order */
    char got[MODEL_MAX_LAYERS + 1];
    for (int i = 0; i < desc.n_layers; i++)
        got[i] = letters[desc.layers[i].kind];
    got[desc.n_layers] = '\0';
    ck_assert_str_eq(got, kinds);
}

static int count_kind(int kind)
{
    int n = 0;
    for (int i = 0; i < desc.n_layers; i++)
        n += desc.layers[i].kind == kind;
    return n;
}

static int index_of(const char *name)
{
    for (int i = 0; i < desc.n_layers; i++)
        if (strcmp(desc.layers[i].name, name) == 0)
            return i;
    ck_abort_msg("no layer %s", name);
    return -1;
}

START_TEST(test_zoo_mlp)
{
    load_zoo("mlp");
    assert_kinds("flrlrl");
    ck_assert_int_eq(desc.layers[1].out, 256);
    ck_assert_int_eq(desc.layers[3].out, 256);
    ck_assert_int_eq(desc.layers[5].out, 10);
    ck_assert_int_eq(desc.in_c, 0);
}
END_TEST

START_TEST(test_zoo_lenet5)
{
    static const int conv_out[] = {6, 16}, conv_pad[] = {2, 0}, fc_out[] = {120, 84, 10};
    load_zoo("lenet5");
    assert_kinds("crmcrmflrlrl");
    for (int k = 0; k < 2; k++) {
        const layer_desc *c = &desc.layers[3 * k];
        ck_assert_int_eq(c->out, conv_out[k]);
        ck_assert_int_eq(c->kernel, 5);
        ck_assert_int_eq(c->stride, 1);
        ck_assert_int_eq(c->pad, conv_pad[k]);
        ck_assert_int_eq(desc.layers[3 * k + 2].kernel, 2);
        ck_assert_int_eq(desc.layers[3 * k + 2].stride, 2);
    }
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(desc.layers[7 + 2 * k].out, fc_out[k]);
}
END_TEST

START_TEST(test_zoo_cnn_s)
{
    /* shared/peers/torch_fmnist.py cnn(): 4 convs (3x3, pad 1, bias as nn.Conv2d's default) */
    static const int conv_at[] = {0, 3, 7, 10}, conv_out[] = {32, 32, 64, 64};
    load_zoo("cnn-s");
    ck_assert_int_eq(desc.n_layers, 18);
    assert_kinds("cbrcbrmcbrcbrmflrl");
    for (int k = 0; k < 4; k++) {
        const layer_desc *c = &desc.layers[conv_at[k]];
        ck_assert_int_eq(c->kind, LK_CONV);
        ck_assert_int_eq(c->out, conv_out[k]);
        ck_assert_int_eq(c->kernel, 3);
        ck_assert_int_eq(c->stride, 1);
        ck_assert_int_eq(c->pad, 1);
        ck_assert_int_eq(c->bias, 1);
    }
    ck_assert_int_eq(desc.layers[6].kernel, 2);
    ck_assert_int_eq(desc.layers[6].stride, 2);
    ck_assert_int_eq(desc.layers[13].stride, 2);
    ck_assert_int_eq(desc.layers[15].out, 256);
    ck_assert_int_eq(desc.layers[17].out, 10);
    for (int i = 0; i < desc.n_layers; i++)
        ck_assert_int_eq(desc.layers[i].in[0], i - 1);
}
END_TEST

START_TEST(test_zoo_resnet20)
{
    load_zoo("resnet20");
    /* stem 3 + 7 identity blocks * 7 + 2 projection blocks * 9 + pool, flatten, fc */
    ck_assert_int_eq(desc.n_layers, 3 + 7 * 7 + 2 * 9 + 3);
    ck_assert_int_eq(count_kind(LK_CONV), 21); /* 1 + 9 * 2 + 2 shortcuts */
    ck_assert_int_eq(count_kind(LK_BN), 21);
    ck_assert_int_eq(count_kind(LK_RELU), 19); /* stem + 2 per block */
    ck_assert_int_eq(count_kind(LK_ADD), 9);
    ck_assert_int_eq(count_kind(LK_GAP), 1);
    ck_assert_int_eq(count_kind(LK_FLATTEN), 1);
    ck_assert_int_eq(count_kind(LK_LINEAR), 1);
    int strided = 0, one_by_one = 0;
    for (int i = 0; i < desc.n_layers; i++) {
        const layer_desc *l = &desc.layers[i];
        if (l->kind != LK_CONV)
            continue;
        ck_assert_int_eq(l->bias, 0);
        ck_assert_int_eq(l->pad, l->kernel == 3 ? 1 : 0);
        strided += l->stride == 2;
        one_by_one += l->kernel == 1;
    }
    ck_assert_int_eq(strided, 4);
    ck_assert_int_eq(one_by_one, 2);
    /* identity shortcut in stage 1, projections where stages 2 and 3 begin */
    const layer_desc *a = &desc.layers[index_of("s1b0_add")];
    ck_assert_int_eq(a->in[0], index_of("s1b0_bn2"));
    ck_assert_int_eq(a->in[1], index_of("stem_relu"));
    a = &desc.layers[index_of("s2b0_add")];
    ck_assert_int_eq(a->in[1], index_of("s2b0_sc_bn"));
    const layer_desc *sc = &desc.layers[index_of("s3b0_sc_conv")];
    ck_assert_int_eq(sc->in[0], index_of("s2b2_out"));
    ck_assert_int_eq(sc->out, 64);
    ck_assert_int_eq(sc->stride, 2);
    ck_assert_int_eq(desc.layers[index_of("s3b0_conv1")].in[0], index_of("s2b2_out"));
    ck_assert_int_eq(desc.layers[index_of("s3b2_conv2")].out, 64);
    ck_assert_int_eq(desc.layers[desc.n_layers - 1].out, 10);
    ck_assert_int_eq(desc.in_c, 0); /* any input size: 28x28x1 and 32x32x3 alike */
}
END_TEST

/* ---- finding files ---- */

static char tmpdir[64];

static void write_file(const char *dir, const char *name, const char *content)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
}

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/check_modelfile.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    write_file(tmpdir, "mlp.json", "{\"layers\": [{\"type\": \"flatten\"}]}");
    write_file(tmpdir, "tiny.json", "{\"layers\": [{\"type\": \"relu\"}]}");
    write_file(tmpdir, "broken.json", "{\"layers\": [{\"type\": \"conv\"}]}");
    write_file(tmpdir, "notes.txt", "not a model");
}

static void remove_tmpdir(void)
{
    static const char *const files[] = {"mlp.json", "tiny.json", "broken.json", "notes.txt"};
    char path[256];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

START_TEST(test_load_search_order)
{
    char dirs[256];
    qd_err err = {0};
    snprintf(dirs, sizeof dirs, "/nonexistent::%s", tmpdir);
    /* a directory given first wins over ./models */
    ck_assert_int_eq(modelfile_load(&desc, "mlp", dirs, &err), 0);
    ck_assert_int_eq(desc.n_layers, 1);
    ck_assert_str_eq(desc.name, "mlp"); /* from the file's name */
    ck_assert_int_eq(modelfile_load(&desc, "tiny", dirs, &err), 0);
    ck_assert_str_eq(desc.name, "tiny");
    /* without it, the zoo */
    ck_assert_int_eq(modelfile_load(&desc, "mlp", NULL, &err), 0);
    ck_assert_int_eq(desc.n_layers, 6);
    ck_assert_int_eq(modelfile_load(&desc, "tiny", NULL, &err), QD_ENOENT);
    ck_assert_msg(strstr(err.msg, "tiny.json") && strstr(err.msg, "models"), "%s", err.msg);
}
END_TEST

START_TEST(test_load_path)
{
    char path[256];
    qd_err err = {0};
    snprintf(path, sizeof path, "%s/tiny.json", tmpdir);
    ck_assert_int_eq(modelfile_load(&desc, path, NULL, &err), 0);
    ck_assert_str_eq(desc.name, "tiny");
    ck_assert_int_eq(modelfile_load(&desc, "models/cnn-s.json", NULL, &err), 0);
    ck_assert_str_eq(desc.name, "cnn-s");
    snprintf(path, sizeof path, "%s/broken.json", tmpdir);
    ck_assert_int_eq(modelfile_load(&desc, path, NULL, &err), QD_EMODEL);
    ck_assert_str_eq(err.field, "layers[0].out");
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);
    ck_assert_int_eq(modelfile_load(&desc, "no-such.json", NULL, &err), QD_ENOENT);
    ck_assert_int_eq(modelfile_load(&desc, "no-such-model", NULL, &err), QD_ENOENT);
    ck_assert_int_eq(modelfile_load(&desc, "..", NULL, &err), QD_ENOENT);
    ck_assert_int_eq(modelfile_load(&desc, "", NULL, &err), QD_EINVAL);
}
END_TEST

START_TEST(test_list)
{
    char names[16][MODELFILE_NAME_LEN], dirs[128];
    int n = modelfile_list(NULL, names, 16);
    ck_assert_int_ge(n, 4);
    int at = 0;
    static const char *const zoo[] = {"cnn-s", "lenet5", "mlp", "resnet20"}; /* sorted */
    for (int i = 0; i < n && at < 4; i++)
        at += strcmp(names[i], zoo[at]) == 0;
    ck_assert_int_eq(at, 4);
    snprintf(dirs, sizeof dirs, "%s", tmpdir);
    n = modelfile_list(dirs, names, 16);
    int tiny = 0, mlp = 0;
    for (int i = 0; i < n; i++) {
        tiny += strcmp(names[i], "tiny") == 0;
        mlp += strcmp(names[i], "mlp") == 0;
        if (i > 0)
            ck_assert_int_lt(strcmp(names[i - 1], names[i]), 0);
    }
    ck_assert_int_eq(tiny, 1);
    ck_assert_int_eq(mlp, 1);
    ck_assert_int_eq(modelfile_list(dirs, names, 2), 2);
}
END_TEST

/* ---- layer kind names (core/model_desc.h) ---- */

START_TEST(test_kind_names)
{
    static const char *const names[LK_COUNT] = {"conv",           "linear",  "batchnorm",
                                                "relu",           "maxpool", "avgpool",
                                                "global_avgpool", "add",     "flatten"};
    for (int k = 0; k < LK_COUNT; k++) {
        ck_assert_str_eq(layer_kind_name(k), names[k]);
        ck_assert_int_eq(layer_kind_from_name(names[k]), k);
    }
    ck_assert_ptr_null(layer_kind_name(-1));
    ck_assert_ptr_null(layer_kind_name(LK_COUNT));
    ck_assert_int_eq(layer_kind_from_name("Conv"), -1);
    ck_assert_int_eq(layer_kind_from_name(""), -1);
    ck_assert_int_eq(layer_kind_from_name(NULL), -1);
}
END_TEST

Suite *modelfile_suite(void)
{
    Suite *s = suite_create("modelfile");
    TCase *bad = tcase_create("bad");
    tcase_add_loop_test(bad, test_bad_file, 0, sizeof bad_cases / sizeof bad_cases[0]);
    tcase_add_loop_test(bad, test_bad_file_message, 0, sizeof msg_cases / sizeof msg_cases[0]);
    tcase_add_test(bad, test_too_many_layers);
    suite_add_tcase(s, bad);
    TCase *good = tcase_create("good");
    tcase_add_test(good, test_defaults);
    tcase_add_test(good, test_inputs);
    tcase_add_test(good, test_kind_names);
    suite_add_tcase(s, good);
    TCase *zoo = tcase_create("zoo");
    tcase_add_test(zoo, test_zoo_mlp);
    tcase_add_test(zoo, test_zoo_lenet5);
    tcase_add_test(zoo, test_zoo_cnn_s);
    tcase_add_test(zoo, test_zoo_resnet20);
    suite_add_tcase(s, zoo);
    TCase *files = tcase_create("files");
    tcase_add_unchecked_fixture(files, make_tmpdir, remove_tmpdir);
    tcase_add_test(files, test_load_search_order);
    tcase_add_test(files, test_load_path);
    tcase_add_test(files, test_list);
    suite_add_tcase(s, files);
    return s;
}

QD_CHECK_MAIN(modelfile_suite)
