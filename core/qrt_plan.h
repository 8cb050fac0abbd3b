/*
 * qrt_plan.h: what the runtime decided for each layer (qrt.c builds it in qrt_create), for the
 * code that must compute exactly what the runtime computes: the generated C of the export job
 * reads the paths, the fused chains, the codes' offsets and the requantization from here.
 * The plan is owned by the qrt and read-only.
 */
#ifndef QD_QRT_PLAN_H
#define QD_QRT_PLAN_H

#include "qrt.h"
#include "qrt_kern.h"

enum qrt_rep { QRT_REP_FLOAT = 0, QRT_REP_CODES = 1 };

typedef struct qrt_lplan {
    qm_layer q;                 /* the qmodel's description */
    int rep, alias;             /* enum qrt_rep of the output; 1: its buffer is the input's */
    int lc, lh, lw;             /* layout of the output buffer */
    uint8_t zero_code;          /* codes: the stored code of 0.0 */
    int consumers;
} qrt_lplan;

typedef struct qrt_cplan {
    int path, kern, span, in_codes, out_codes, is_conv, layer; /* span: U8S8_ACC16's */
    int oc, k, kp, np;
    int sc, sh, sw;             /* layout of the input codes (int path) */
    /* int path: input quantizer (for float inputs) and packed weights */
    float in_inv;
    int in_zp, in_lo, in_hi, in_off;
    int8_t *w8;
    int16_t *w16;
    int32_t *corr;              /* (in_off + in_zp) * sum_k w */
    qrt_requant *rq;            /* epilogue to codes, and as arrays for the vector kernel */
    int32_t *mult, *rsh;
    int64_t *off2;
    int out_lo, out_hi, out_off;
    float *oscale, *obias;      /* epilogue to floats */
    /* decoded path */
    float *wf, *post, *bias;
    qm_quant aq;
    float a_scale;
    int a_zp;
} qrt_cplan;

/* Layer i's and compute layer ci's plan. */
const qrt_lplan *qrt_plan_layer(const qrt *rt, int i);
const qrt_cplan *qrt_plan_compute(const qrt *rt, int ci);

#endif
