#pragma once
// What a launcher (Open MPI's mpirun, Slurm's srun or sbatch, MPICH's hydra, a PMIx server)
// tells each process it starts, read from the environment before MPI is.
namespace satunet::launcher {

// The process's rank and the number of processes started with it, as the launcher set them: 0
// and 1 where none did (and in an sbatch script's own shell, which is one process).
int rank();
int world_size();
// Whether any launcher's variables are set: a process started alone from a shell has none.
bool present();

}  // namespace satunet::launcher
