#include "common/launcher.hpp"

#include <cstdlib>
#include <initializer_list>

namespace satunet::launcher {
namespace {

constexpr std::initializer_list<const char*> kRankVariables = {"OMPI_COMM_WORLD_RANK", "PMI_RANK",
                                                               "PMIX_RANK", "SLURM_PROCID"};
// The processes started together: Slurm's step (srun); an sbatch script's shell is no task of
// a step, though its job has SLURM_NTASKS of them.
constexpr std::initializer_list<const char*> kSizeVariables = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                                               "SLURM_STEP_NUM_TASKS"};
// Set in a job's every process, its batch shell too.
constexpr std::initializer_list<const char*> kJobVariables = {"SLURM_NTASKS"};

int first_set(std::initializer_list<const char*> names, int fallback) {
  for (const char* name : names)
    if (const char* value = std::getenv(name))
      return std::atoi(value);
  return fallback;
}

}  // namespace

int rank() {
  return first_set(kRankVariables, 0);
}

int world_size() {
  return first_set(kSizeVariables, 1);
}

bool present() {
  return first_set(kRankVariables, -1) >= 0 || first_set(kSizeVariables, -1) >= 0 ||
         first_set(kJobVariables, -1) >= 0;
}

}  // namespace satunet::launcher
