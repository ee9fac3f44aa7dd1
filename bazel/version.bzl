"""hwcast's version for Bazel targets (CMake: project(hwcast VERSION ...)).

Must equal the VERSION in the top CMakeLists.txt; //bazel:version_test checks it.
"""

HWCAST_VERSION = "0.1.0"

# local_defines for targets that CMake builds with
# target_compile_definitions(... HWCAST_VERSION="${PROJECT_VERSION}").
HWCAST_VERSION_DEFINES = ['HWCAST_VERSION=\\"%s\\"' % HWCAST_VERSION]
