/*
 * modelyard.features.online.redis._redis_rows: a view's HMGET replies decoded column by column in C.
 *
 * The compiled half of modelyard/features/online/redis/codec.py (which documents the byte layout
 * and is the reference): the Python decoders spend a few C calls per column and a few
 * hundred nanoseconds per value; at ten entities that fixed cost is most of an online read.
 * This module walks the rows once and builds each value directly.
 *
 * decode_rows(rows, types) -> list with one entry per column: the decoded values, or None
 * when any value of the column is not in the one shape handled here (then Python decodes
 * that column, so answers never depend on which path ran). Handled, as Feast's
 * get_online_features(...).to_dict() gives them:
 *   missing (None or b"")             -> None
 *   DOUBLE  0x29 + 8 bytes            -> float
 *   FLOAT   0x35 + 4 bytes            -> float (the float32 widened)
 *   INT64   0x20 + one varint         -> int (low 64 bits, two's complement)
 *   INT32   0x18 + one varint         -> int (low 32 bits, two's complement)
 *   BOOL    0x38 + one byte < 0x80    -> bool
 *   STRING  0x12 + varint length + UTF-8 -> str
 *   UNIX_TIMESTAMP 0x40 + one varint  -> datetime in UTC (Feast's null timestamp -> None)
 * Every other type gives None (Python's decoders take it).
 *
 * decode_rows(rows, types, fresh_from) does the same for rows that end with one more value,
 * the view's ``_ts:<view>`` field (a google.protobuf.Timestamp): a row whose event time, in
 * whole seconds, is before ``fresh_from`` (or that has no event time) is stale, and every one
 * of its values decodes to None (modelyard.features.expiry has the rule). It returns None
 * instead of the columns when an event time is not in the shape handled here (Python decides).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>
#include <string.h>

enum { T_STRING = 2, T_INT32 = 3, T_INT64 = 4, T_DOUBLE = 5, T_FLOAT = 6, T_BOOL = 7, T_TIMESTAMP = 8 };

#define NULL_TIMESTAMP INT64_MIN

/* tag + exactly one varint of up to 10 bytes filling the value; 0 if not that shape */
static int read_varint(const unsigned char *p, Py_ssize_t size, uint64_t *out) {
    if (size < 2 || size > 11) return 0;
    uint64_t value = 0;
    for (Py_ssize_t i = 1; i < size; i++) {
        unsigned char b = p[i];
        int last = (i == size - 1);
        if (last != (b < 0x80)) return 0; /* the varint must end exactly at the value's end */
        Py_ssize_t shift = 7 * (i - 1);
        if (shift < 64) value |= ((uint64_t)(b & 0x7F)) << shift;
    }
    *out = value;
    return 1;
}

static int little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* days since 1970-01-01 -> civil date (Howard Hinnant's days_from_civil, inverted) */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* seconds since the epoch -> aware UTC datetime; NULL with no error set if out of range */
static PyObject *utc_datetime(int64_t seconds) {
    int64_t days = seconds / 86400, rest = seconds % 86400;
    if (rest < 0) {
        rest += 86400;
        days -= 1;
    }
    int64_t year;
    int month, day;
    civil_from_days(days, &year, &month, &day);
    if (year < 1 || year > 9999) return NULL; /* datetime's range: Python decides (and raises) */
    return PyDateTimeAPI->DateTime_FromDateAndTime(
        (int)year, month, day, (int)(rest / 3600), (int)(rest % 3600 / 60), (int)(rest % 60), 0,
        PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType);
}

/* one value -> new reference; NULL with no error set: not this shape (the column falls back) */
static PyObject *decode_value(PyObject *raw, long type) {
    if (raw == Py_None) Py_RETURN_NONE;
    if (!PyBytes_CheckExact(raw)) return NULL;
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t size = PyBytes_GET_SIZE(raw);
    if (size == 0) Py_RETURN_NONE;
    uint64_t v;
    switch (type) {
    case T_DOUBLE: {
        if (size != 9 || p[0] != 0x29) return NULL;
        double x;
        memcpy(&x, p + 1, 8);
        return PyFloat_FromDouble(x);
    }
    case T_FLOAT: {
        if (size != 5 || p[0] != 0x35) return NULL;
        float x;
        memcpy(&x, p + 1, 4);
        return PyFloat_FromDouble((double)x);
    }
    case T_INT64:
        if (p[0] != 0x20 || !read_varint(p, size, &v)) return NULL;
        return PyLong_FromLongLong((long long)(int64_t)v);
    case T_INT32:
        if (p[0] != 0x18 || !read_varint(p, size, &v)) return NULL;
        return PyLong_FromLong((long)(int32_t)(uint32_t)v);
    case T_BOOL:
        if (size != 2 || p[0] != 0x38 || p[1] >= 0x80) return NULL;
        return PyBool_FromLong(p[1] != 0);
    case T_TIMESTAMP: {
        if (p[0] != 0x40 || !read_varint(p, size, &v)) return NULL;
        int64_t seconds = (int64_t)v;
        if (seconds == NULL_TIMESTAMP) Py_RETURN_NONE;
        PyObject *when = utc_datetime(seconds);
        if (when == NULL) PyErr_Clear(); /* whatever datetime refuses, the Python path decides */
        return when;
    }
    case T_STRING: {
        if (p[0] != 0x12 || size < 2) return NULL;
        uint64_t length = 0;
        Py_ssize_t i = 1;
        int shift = 0;
        for (;; i++) { /* the length varint */
            if (i >= size || shift >= 35) return NULL; /* protobuf takes lengths of up to 5 bytes */
            length |= ((uint64_t)(p[i] & 0x7F)) << shift;
            shift += 7;
            if (p[i] < 0x80) break;
        }
        i += 1;
        if ((uint64_t)(size - i) != length) return NULL;
        PyObject *text = PyUnicode_DecodeUTF8((const char *)p + i, size - i, "strict");
        if (text == NULL) PyErr_Clear(); /* not UTF-8: the Python path decides */
        return text;
    }
    default:
        return NULL;
    }
}

/* the whole seconds of a serialised Timestamp (fields 1 seconds, 2 nanos, both varints);
 * 1 if read, 0 if missing (None or b"": no event time), -1 if not that shape */
static int event_seconds(PyObject *raw, int64_t *out) {
    if (raw == Py_None) return 0;
    if (!PyBytes_CheckExact(raw)) return -1;
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t size = PyBytes_GET_SIZE(raw), i = 0;
    if (size == 0) return 0;
    uint64_t seconds = 0;
    while (i < size) {
        unsigned char tag = p[i++];
        if (tag != 0x08 && tag != 0x10) return -1;
        uint64_t value = 0;
        int shift = 0;
        for (;; i++) {
            if (i >= size || shift >= 64) return -1;
            value |= ((uint64_t)(p[i] & 0x7F)) << shift;
            shift += 7;
            if (p[i] < 0x80) break;
        }
        i += 1;
        if (tag == 0x08) seconds = value;
    }
    *out = (int64_t)seconds;
    return 1;
}

static PyObject *decode_rows(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *rows, *types, *fresh = Py_None;
    if (!PyArg_ParseTuple(args, "OO|O:decode_rows", &rows, &types, &fresh)) return NULL;
    int with_ts = fresh != Py_None;
    long long fresh_from = 0;
    if (with_ts) {
        fresh_from = PyLong_AsLongLong(fresh);
        if (fresh_from == -1 && PyErr_Occurred()) return NULL;
    }
    /* the types first, as C numbers: converting them may run Python code (__index__), which
     * must not see the rows half decoded; the rows as our own tuple, so nothing resizes them */
    PyObject *types_fast = PySequence_Fast(types, "types must be a sequence");
    if (types_fast == NULL) return NULL;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(types_fast);
    long *codes = PyMem_New(long, k > 0 ? k : 1);
    if (codes == NULL) {
        Py_DECREF(types_fast);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        codes[j] = PyLong_AsLong(PySequence_Fast_GET_ITEM(types_fast, j));
        if (codes[j] == -1 && PyErr_Occurred()) {
            PyMem_Free(codes);
            Py_DECREF(types_fast);
            return NULL;
        }
    }
    Py_DECREF(types_fast);
    PyObject *rows_fast = PySequence_Tuple(rows);
    if (rows_fast == NULL) {
        PyMem_Free(codes);
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(rows_fast);
    PyObject *out = NULL;
    char *live = NULL; /* with_ts: whether each row is fresh */
    if (with_ts) {
        live = PyMem_Malloc(n > 0 ? (size_t)n : 1);
        if (live == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *row = PyTuple_GET_ITEM(rows_fast, i);
            int64_t seconds = 0;
            int read = -1;
            if (PyList_CheckExact(row) && PyList_GET_SIZE(row) == k + 1)
                read = event_seconds(PyList_GET_ITEM(row, k), &seconds);
            if (read < 0) { /* not the shape handled here: Python decides the whole view */
                PyMem_Free(live);
                Py_DECREF(rows_fast);
                PyMem_Free(codes);
                Py_RETURN_NONE;
            }
            live[i] = (char)(read == 1 && seconds >= fresh_from);
        }
    }
    out = PyList_New(k);
    if (out == NULL) goto fail;
    for (Py_ssize_t j = 0; j < k; j++) {
        long type = codes[j];
        PyObject *column = PyList_New(n);
        if (column == NULL) goto fail;
        int ok = 1;
        for (Py_ssize_t i = 0; i < n && ok; i++) {
            PyObject *row = PyTuple_GET_ITEM(rows_fast, i);
            if (!PyList_CheckExact(row) || PyList_GET_SIZE(row) != k + with_ts) {
                ok = 0;
                break;
            }
            if (with_ts && !live[i]) { /* stale: missing, whatever the store holds */
                Py_INCREF(Py_None);
                PyList_SET_ITEM(column, i, Py_None);
                continue;
            }
            PyObject *raw = PyList_GET_ITEM(row, j);
            Py_INCREF(raw); /* ours while decoding, whatever an allocation's collector runs */
            PyObject *value = decode_value(raw, type);
            Py_DECREF(raw);
            if (value == NULL) {
                if (PyErr_Occurred()) {
                    Py_DECREF(column);
                    goto fail;
                }
                ok = 0;
                break;
            }
            PyList_SET_ITEM(column, i, value);
        }
        if (!ok) { /* unfilled slots are NULL, which list deallocation skips */
            Py_DECREF(column);
            Py_INCREF(Py_None);
            column = Py_None;
        }
        PyList_SET_ITEM(out, j, column);
    }
    Py_DECREF(rows_fast);
    PyMem_Free(codes);
    PyMem_Free(live);
    return out;
fail:
    Py_XDECREF(out);
    Py_DECREF(rows_fast);
    PyMem_Free(codes);
    PyMem_Free(live);
    return NULL;
}

static PyMethodDef methods[] = {
    {"decode_rows", decode_rows, METH_VARARGS,
     "decode_rows(rows, types[, fresh_from]) -> one list per column (None: a column the Python decoders "
     "must take); with fresh_from, each row ends with its event time and stale rows decode to None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_redis_rows",
    .m_doc = "A view's HMGET replies decoded column by column in C (see modelyard.features.online.redis.codec).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__redis_rows(void) {
    if (!little_endian()) {
        PyErr_SetString(PyExc_ImportError, "_redis_rows reads little-endian doubles only");
        return NULL;
    }
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    return PyModule_Create(&module);
}
