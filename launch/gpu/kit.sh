# shellcheck shell=bash
# The GPU kit's prefix, for launch/gpu/check.sh (sourced): unpacking launch/gpu/pack.sh's kit
# into a prefix of its own, the environment and CMake arguments that take everything from it,
# and for the dry run (check.sh --cpu) this system's copies hidden, a compile of the sources
# that need no LibTorch and a link of every library the kit gives the build.
#
# The kit is a tree relative to its prefix: PREFIX/usr/{bin,include,lib,share}, PREFIX/etc/openmpi.
# The text files listed in PREFIX/usr/share/satunet-kit/relocate.txt (compiler wrappers,
# gdal-config, pkg-config and CMake files) name /usr; unpacking points them at PREFIX/usr.

kit_multiarch=lib/x86_64-linux-gnu

# The path with its directories resolved, the last component kept as it is, in kit_path.
declare -A kit_resolved_dirs
kit_canonical() {
  local dir=${1%/*}
  dir=${dir:-/}
  if [[ -z ${kit_resolved_dirs[$dir]+set} ]]; then
    kit_resolved_dirs[$dir]=$(realpath -m "$dir")
  fi
  local base=${kit_resolved_dirs[$dir]}
  kit_path=${base%/}/${1##*/}
}

# kit_unpack KIT PREFIX: PREFIX emptied (only if it is a kit's or empty), the kit unpacked into
# it and its text files pointed at it.
kit_unpack() {
  local kit=$1 prefix=$2 file count=0
  if [[ $prefix != /* || $prefix =~ [^A-Za-z0-9_./+-] ]]; then
    echo "kit: the prefix must be an absolute path of plain characters: '$prefix'"
    return 1
  fi
  case ${prefix%/} in
    "" | /usr | /usr/* | /etc | /opt | /tmp | /home | /root) echo "kit: refusing the prefix $prefix"; return 1 ;;
  esac
  if [[ -d $prefix && ! -f $prefix/usr/share/satunet-kit/relocate.txt && -n $(ls -A "$prefix") ]]; then
    echo "kit: $prefix holds something that is not a kit: not touched"
    return 1
  fi
  rm -rf "$prefix"
  mkdir -p "$prefix"
  tar -C "$prefix" -xJf "$kit" || return 1
  while IFS= read -r file; do
    sed -i -e "s#/usr/#$prefix/usr/#g" -e "s#/usr\"#$prefix/usr\"#g" -e "s#=/usr\$#=$prefix/usr#" \
      -e "s#/etc/openmpi#$prefix/etc/openmpi#g" "$prefix/$file" || return 1
    count=$((count + 1))
  done <"$prefix/usr/share/satunet-kit/relocate.txt"
  echo "kit: unpacked $(find "$prefix" ! -type d | wc -l) files into $prefix" \
    "($(du -sm "$prefix" | cut -f1) MiB), $count text files pointed at it"
}

# kit_environment PREFIX [HIDDEN]: what running from the prefix needs. The loader takes the
# kit's libraries that the system has no library of the same name for (PREFIX/usr/lib/satunet-
# kit-runtime, first in LD_LIBRARY_PATH), so the image's own stay in use where it has them; the
# system's files listed in HIDDEN count as gone. Open MPI is relocated (OPAL_PREFIX, its
# settings, PMIx's plugins); mpirun, orted and the compiler wrappers come last in PATH; GDAL and
# PROJ read their data from the kit.
kit_environment() {
  local prefix=$1 hidden=${2:-} lib=$1/usr/$kit_multiarch name path file linked=0
  local runtime=$prefix/usr/lib/satunet-kit-runtime
  declare -A system_has=() is_hidden=()
  if [[ -n $hidden ]]; then
    while IFS= read -r path; do is_hidden[$path]=1; done <"$hidden"
  fi
  while read -r name path; do
    kit_canonical "$path"
    path=$kit_path
    if [[ -e $path && -z ${is_hidden[$path]:-} ]]; then system_has[$name]=1; fi
  done < <(ldconfig -p | awk 'NR > 1 && $NF ~ /^\// {print $1, $NF}')
  rm -rf "$runtime"
  mkdir -p "$runtime"
  while IFS= read -r file; do
    name=${file##*/}
    if [[ -n ${system_has[$name]:-} || -e $runtime/$name ]]; then continue; fi
    ln -s "$file" "$runtime/$name"
    linked=$((linked + 1))
  done < <(find "$prefix/usr/lib" -path "$runtime" -prune -o \( -type f -o -type l \) \
    \( -name 'lib*.so.*' -o -name 'lib*.so' \) -print | sort)
  export LD_LIBRARY_PATH=$runtime${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export OPAL_PREFIX=$prefix/usr
  export OMPI_MCA_mca_base_param_files=$prefix/etc/openmpi/openmpi-mca-params.conf
  export OMPI_MCA_orte_default_hostfile=$prefix/etc/openmpi/openmpi-default-hostfile
  export PMIX_MCA_mca_base_component_path=$lib/pmix2/lib/pmix
  export GDAL_DATA=$prefix/usr/share/gdal
  export PROJ_DATA=$prefix/usr/share/proj PROJ_LIB=$prefix/usr/share/proj
  export PATH=$PATH:$prefix/usr/bin
  echo "kit: $linked of its library names taken from the kit (the system has none of that" \
    "name), $((${#system_has[@]})) library names the system has; OPAL_PREFIX=$OPAL_PREFIX"
}

# kit_cmake_args PREFIX [MORE_PREFIXES]: CMake arguments (in the array kit_cmake) that find
# everything of the kit's in it first, Boost by its own 1.74 configuration (not an image's
# newer Boost without Program_options), MPI through the kit's wrapper, HDF5 through its h5cc.
kit_cmake_args() {
  local prefix=$1 more=${2:-} lib=$1/usr/$kit_multiarch boost_dir
  boost_dir=$(find "$lib/cmake" -maxdepth 1 -name 'Boost-*' | sort | tail -1)
  # shellcheck disable=SC2034  # for the caller
  kit_cmake=(-DCMAKE_PREFIX_PATH="$prefix/usr${more:+;$more}" -DBoost_DIR="$boost_dir"
    -DBoost_NO_SYSTEM_PATHS=ON -DMPI_HOME="$prefix/usr" -DMPI_CXX_COMPILER="$prefix/usr/bin/mpicxx"
    -DMPIEXEC_EXECUTABLE="$prefix/usr/bin/mpiexec" -DHDF5_ROOT="$prefix/usr"
    -DHDF5_C_COMPILER_EXECUTABLE="$prefix/usr/bin/h5cc" -DGDAL_CONFIG="$prefix/usr/bin/gdal-config"
    -DGTest_DIR="$lib/cmake/GTest" -Dnlohmann_json_DIR="$prefix/usr/share/cmake/nlohmann_json"
    -DZLIB_ROOT="$prefix/usr")
}

# kit_hide_system PREFIX: inside a private mount namespace (check.sh --cpu runs under unshare),
# the system's copies of the kit's packages (PREFIX/usr/share/satunet-kit/hide.txt: taken whole
# or in part, or left out on purpose) and of every file the kit has are hidden: an overlay on
# /usr whose whiteouts remove them (launch/gpu/kit_hide.py), empty directories bound over those
# in /etc. An image's Boost 1.83 configuration without Program_options is put in their place,
# as the GPU node has. The kit's environment (kit_environment) is set first: once /usr is
# covered, even mount and ls load some of the kit's libraries (libpcre2, libz).
kit_hide_system() {
  local prefix=$1 hide top
  if [[ $(readlink /proc/self/ns/mnt) == "$(readlink /proc/1/ns/mnt)" ]]; then
    echo "kit: not in a mount namespace of its own: nothing hidden"
    return 1
  fi
  hide=${prefix%/}-hide
  rm -rf "$hide"
  mkdir -p "$hide/upper" "$hide/work" "$hide/empty" || return 1
  python3 "$(dirname "${BASH_SOURCE[0]}")/kit_hide.py" "$prefix" "$hide" || return 1
  # As on the node: an image's newer Boost, whose configuration the build must not take.
  local boost=$hide/upper/$kit_multiarch/cmake/Boost-1.83.0
  mkdir -p "$boost" || return 1
  printf '%s\n' 'set(PACKAGE_VERSION 1.83.0)' 'set(PACKAGE_VERSION_COMPATIBLE TRUE)' \
    'if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)' '  set(PACKAGE_VERSION_EXACT TRUE)' \
    'endif()' >"$boost/BoostConfigVersion.cmake"
  printf '%s\n' 'message(FATAL_ERROR "the system'"'"'s Boost 1.83 configuration (no' \
    'Program_options, as the GPU node'"'"'s image has) was taken instead of the kit'"'"'s")' \
    >"$boost/BoostConfig.cmake"
  kit_environment "$prefix" "$hide/hidden" || return 1
  while IFS= read -r top; do
    mount --bind "$hide/empty" "$top" || return 1
  done <"$hide/etc"
  mount -t overlay satunet-kit-hide -o "lowerdir=/usr,upperdir=$hide/upper,workdir=$hide/work" \
    /usr || return 1
  echo "kit: hid $(grep -c '^/usr/' "$hide/hidden") files of this system under /usr (the" \
    "packages $(paste -sd ' ' "$prefix/usr/share/satunet-kit/hide.txt"), and every file the kit" \
    "has) and $(paste -sd ' ' "$hide/etc"); a stand-in Boost 1.83 configuration in" \
    "/usr/$kit_multiarch/cmake"
}

# kit_compile_cover BUILD MAIN_BUILD PREFIX JOBS: compiles in BUILD the fewest sources that need
# no LibTorch and, together, read every kit header that such sources read in MAIN_BUILD (its
# ninja dependency log; a source with LibTorch's headers or its precompiled header is left to
# the GPU node).
kit_compile_cover() {
  local build=$1 main=$2 prefix=$3 jobs=$4 object
  local -a objects=()
  while IFS= read -r object; do
    if ninja -C "$build" -t query "$object" >/dev/null 2>&1; then objects+=("$object"); fi
  done < <(
    ninja -C "$main" -t deps | awk -v kit_headers=<(cd "$prefix" && find usr -path '*include*' \
      ! -type d | sed 's|^|/|') '
      BEGIN {while ((getline line < kit_headers) > 0) kit[line] = 1}
      /^[^ ]/ {object = $1; sub(/:$/, "", object); next}
      /\/include\/(torch|ATen|c10|caffe2)\/|cmake_pch/ {torch[object] = 1; next}
      /^    \// && ($1 in kit) {reads[object, $1] = 1; headers[$1] = 1; objects[object] = 1}
      END {
        for (o in torch) delete objects[o]
        for (;;) {
          best = ""; most = 0
          for (o in objects) {
            n = 0
            for (h in headers) if ((o, h) in reads) n++
            if (n > most) {most = n; best = o}
          }
          if (best == "") break
          print best
          for (h in headers) if ((best, h) in reads) delete headers[h]
          delete objects[best]
        }
      }')
  if ((${#objects[@]} == 0)); then
    echo "kit: no source to compile (no dependency log in $main?)"
    return 1
  fi
  echo "kit: compiling ${#objects[@]} sources that read every kit header the sources without" \
    "LibTorch read: ${objects[*]##*/}"
  # Their compile commands alone: through ninja, an object would first build what its target
  # waits for (the test program waits for satunet, which waits for satunet-torch).
  local commands=$build/kit-compile-cover
  rm -rf "$commands"
  mkdir -p "$commands"
  for object in "${objects[@]}"; do
    mkdir -p "$build/$(dirname "$object")"
    { echo "cd '$build' || exit 1"; ninja -C "$build" -t commands -s "$object"; } \
      >"$commands/${object//\//_}.sh"
  done
  find "$commands" -name '*.sh' -print0 | xargs -0 -n 1 -P "$jobs" bash
}

# kit_link_check BUILD PREFIX: links a program with every library of the kit's on BUILD's link
# lines (all of them needed, --no-as-needed) and runs it: the libraries, their links and what they
# load are in the kit.
kit_link_check() {
  local build=$1 prefix=$2 dir=$1/kit-link-check cxx token absolute_build relative=
  local -a libraries=()
  # CMake names the paths inside the build directory relative to it.
  absolute_build=$(realpath "$build")
  if [[ $prefix == "$absolute_build"/* ]]; then relative=${prefix#"$absolute_build"/}; fi
  while IFS= read -r token; do
    token=${token#-Wl,--no-as-needed,}
    token=${token//\"/}
    if [[ -n $relative && $token == "$relative"/* ]]; then token=$absolute_build/$token; fi
    if [[ $token == "$prefix"/* ]]; then libraries+=("$token"); fi
  done < <(grep -h '^ *LINK_LIBRARIES = ' "$build/build.ninja" | tr ' ' '\n' | awk 'NF && !seen[$0]++')
  if ((${#libraries[@]} == 0)); then
    echo "kit: no library of the kit's on the link lines of $build"
    return 1
  fi
  cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
  mkdir -p "$dir"
  echo 'int main() { return 0; }' >"$dir/main.cpp"
  "$cxx" -o "$dir/kit-link-check" "$dir/main.cpp" -Wl,--no-as-needed "${libraries[@]}" || return 1
  "$dir/kit-link-check" || return 1
  local loaded from_kit missing
  loaded=$(ldd "$dir/kit-link-check")
  from_kit=$(grep -c "=> $prefix/" <<<"$loaded")
  missing=$(grep 'not found' <<<"$loaded")
  echo "kit: linked and ran a program with the ${#libraries[@]} kit libraries the build links" \
    "(${libraries[*]##*/}); it loads $(grep -c '=> /' <<<"$loaded") libraries, $from_kit from the kit"
  if [[ -n $missing ]]; then
    echo "kit: not found: $missing"
    return 1
  fi
}
