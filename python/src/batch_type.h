// zero_copy_ipc.Batch: writes collected for one hold of the writer lock (see
// ZeroCopyDict.batch()). Keys and values are encoded when added, so a bad
// key raises at once, and the lock is held only for the engine's work.
//
// Thread safety: use a Batch from one thread.

#ifndef ZCIPC_PYTHON_SRC_BATCH_TYPE_H_
#define ZCIPC_PYTHON_SRC_BATCH_TYPE_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace zcipc_py {

// The type zero_copy_ipc.Batch (a heap type; the module holds a reference).
extern PyTypeObject* g_batch_type;

// Makes g_batch_type (after InitDictType). False with a Python error set.
bool InitBatchType();

}  // namespace zcipc_py

#endif  // ZCIPC_PYTHON_SRC_BATCH_TYPE_H_
