// Online growth (docs/DESIGN.md, "Online growth").

#include "engine/dict/dict_impl.h"

namespace zcipc {
namespace internal {

absl::Status DictImpl::Reserve(uint64_t max_items, uint64_t heap_size) {
  (void)max_items;
  (void)heap_size;
  return Annotate("Reserve", absl::UnimplementedError("not yet"));
}

}  // namespace internal
}  // namespace zcipc
