// A scratch directory tree for tests (fake sysfs, sensor files): the
// collector's name for lib/testing/scratch_dir.h. Test-only.
#ifndef HWCAST_SERVICES_COLLECTOR_TESTING_TEMP_TREE_H_
#define HWCAST_SERVICES_COLLECTOR_TESTING_TEMP_TREE_H_

#include "lib/testing/scratch_dir.h"

namespace hwcast::collector::testing {

// Made under the test temp dir as hwcast_collector_XXXXXX.
class TempTree : public ::hwcast::testutil::ScratchDir {
 public:
  TempTree() : ScratchDir("hwcast_collector") {}
};

}  // namespace hwcast::collector::testing

#endif  // HWCAST_SERVICES_COLLECTOR_TESTING_TEMP_TREE_H_
