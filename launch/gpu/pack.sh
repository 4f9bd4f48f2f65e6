#!/usr/bin/env bash
# Gathers what building and running satunet needs on the GPU node that its image lacks: Open MPI,
# HDF5, GDAL (with PROJ's database), Boost.Program_options, nlohmann-json, GoogleTest,
# libdeflate and liblz4, as Debian installs them here. The image has the compiler, CMake,
# ninja, CUDA, LibTorch 2.x and NCCL (in its Python environment) but none of these, and no
# network.
#
# What goes in is read off this machine's own build, so nothing the build uses is missed:
#   - the headers the build included (ninja's dependency log) from these libraries' packages;
#   - every file (but documentation) of their development packages: CMake configurations,
#     pkg-config files, compiler wrappers, the linker's .so names;
#   - the shared libraries they load, closed over ldd, from every package that provides one
#     (but the C and C++ runtimes the image has), and Open MPI's launcher, daemon and plugins.
# Out: build/gpu-kit/satunet-gpu-kit.tar.xz (git-ignored, at most 50 MiB) and its file list;
# launch/gpu/check.sh unpacks it on the node without overwriting a file the image has.
#   launch/gpu/pack.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
launch/setup.sh >/dev/null
build_dir=${SATUNET_BUILD_DIR:-build}
kit_dir=build/gpu-kit
kit=$kit_dir/satunet-gpu-kit.tar.xz
limit_mib=50
mkdir -p "$kit_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Development packages taken whole (their libraries' runtime packages come from ldd below).
dev_packages=(libgdal-dev libhdf5-dev hdf5-helpers libopenmpi-dev openmpi-bin openmpi-common
  libboost-program-options1.74-dev nlohmann-json3-dev libgtest-dev libgmock-dev libdeflate-dev
  liblz4-dev)
# Too large whole: only the headers the build includes, and Boost's CMake configuration.
header_packages='^(libboost1\.74-dev)$'

files_of() {  # the installed files of packages, without documentation
  dpkg -L "$@" | grep -Ev '^/usr/share/(doc|man|info|locale|lintian|bug)(/|$)' |
    while read -r path; do
      if [[ -f $path || -L $path ]]; then echo "$path"; fi
    done
}

# 1. Headers the build included, from the header-only packages.
ninja -C "$build_dir" -t deps | sed -n 's/^    \(\/usr\/.*\)$/\1/p' | sort -u >"$work/headers"
# (dpkg -S fails for the headers no package owns, CUDA's: they are not wanted anyway.)
{ xargs -a "$work/headers" -d '\n' dpkg -S 2>/dev/null || true; } | grep -E "^[^:]+: " |
  while IFS=: read -r package path; do
    package=${package%%,*}
    if [[ $package =~ $header_packages ]]; then echo "${path# }"; fi
  done >"$work/files"
files_of libboost1.74-dev | grep -E '^/usr/lib/x86_64-linux-gnu/cmake/|^/usr/include/boost/version.hpp$' \
  >>"$work/files"

# 2. The development packages whole.
files_of "${dev_packages[@]}" >>"$work/files"

# 3. Runtime: the shared libraries (and their soname links) that the libraries, Open MPI's
# programs and its plugins load; Open MPI and PMIx whole (plugins, help texts, settings); the
# data GDAL and PROJ read (CRS definitions, driver tables; not PROJ's grids).
multiarch=/usr/lib/x86_64-linux-gnu
whole_runtime=(libopenmpi3 openmpi-common libpmix2 gdal-data)
roots=("$multiarch"/libgdal.so "$multiarch"/hdf5/serial/libhdf5.so "$multiarch"/libmpi.so
  "$multiarch"/libmpi_cxx.so "$multiarch"/libboost_program_options.so /usr/bin/orted
  /usr/bin/orterun "$multiarch"/openmpi/lib/openmpi3/*.so "$multiarch"/pmix2/lib/pmix/*.so)
for root in "${roots[@]}"; do
  [[ -e $root ]] || continue
  echo "$root"
  ldd "$root" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u >"$work/libraries"
# Each as its canonical /usr path and soname link, but the C and C++ runtimes: the image's own
# are newer.
base_libraries='^(libc|libm|libmvec|libpthread|libdl|librt|libutil|libresolv|libanl|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so'
{
  while read -r library; do
    if [[ $(basename "$library") =~ $base_libraries ]]; then continue; fi
    canonical=$(readlink -f "$library")
    echo "$canonical"
    soname=$(dirname "$canonical")/$(basename "$library")
    if [[ -e $soname ]]; then echo "$soname"; fi
    # The linker's name too: HDF5's compiler wrapper names libcrypto, libcurl, libsz, libz.
    linker_name=$(dirname "$canonical")/$(basename "$library" | sed 's/\.so\..*$/.so/')
    if [[ -e $linker_name ]]; then echo "$linker_name"; fi
  done <"$work/libraries"
  # The alternatives that name Open MPI's wrappers and launcher (mpicxx, mpirun, the mpi.h
  # directory) and HDF5's pkg-config file: the links, and the links they go through.
  for name in mpi mpirun mpi-x86_64-linux-gnu hdf5.pc; do
    update-alternatives --query "$name" 2>/dev/null | awk -v name="$name" '
      /^Link:/ {print $2; print "/etc/alternatives/" name}
      /^Slaves:/ {slaves = 1; next}
      /^[A-Z]/ {if (slaves) exit}
      slaves && NF == 2 {print $2; print "/etc/alternatives/" $1}'
  done | while read -r link; do
    if [[ -L $link ]]; then echo "$link"; fi
  done
  files_of "${whole_runtime[@]}"
  echo /usr/share/proj/proj.db
  echo /usr/share/proj/proj.ini
} >>"$work/files"
# Static archives only where CMake links them (GoogleTest); the C++ and Fortran HDF5 bindings
# are not used.
grep -Ev '\.a$|hdf5.*(_cpp|fortran)' "$work/files" >"$work/kept" || true
grep -E '/libg(test|mock)[_a-z]*\.a$' "$work/files" >>"$work/kept" || true
mv "$work/kept" "$work/files"
sort -u "$work/files" | sed 's|^/||' >"$kit_dir/files.txt"

XZ_OPT=-9e tar -C / --no-recursion -cJf "$kit.partial" -T "$kit_dir/files.txt"
mv "$kit.partial" "$kit"
bytes=$(stat -c %s "$kit")
mib=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1048576}')
echo "gpu kit: $kit, $mib MiB, $(wc -l <"$kit_dir/files.txt") files from" \
  "$(wc -l <"$work/libraries") runtime library paths"
if awk -v m="$mib" -v l="$limit_mib" 'BEGIN {exit !(m > l)}'; then
  echo "gpu kit: larger than $limit_mib MiB" >&2
  exit 1
fi
