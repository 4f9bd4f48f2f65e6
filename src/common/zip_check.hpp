#pragma once
// The integrity of a zip archive, LibTorch's container for checkpoints: every entry stored
// whole, its bytes matching the CRC-32 the archive records for it. LibTorch reads entries
// without checking their CRCs, so a flipped bit in a checkpoint would load as a changed
// weight; this check turns it into an error naming the file and the entry.
#include <string>
#include <string_view>

namespace satunet {

// Throws Error("PATH: ...") when `archive` is not a whole zip archive (no end record, an entry
// past the end, a CRC that does not match). Stored entries (LibTorch's tensors) and deflated
// ones (its code and metadata) are both checked, the latter inflated a buffer at a time.
void check_zip_integrity(std::string_view archive, const std::string& path);

// Throws the same Error as check_zip_integrity when the file at `path` has no end record where
// a zip archive has it (in its last 64 KiB), or cannot be read. Reads only that tail: a large
// file that is no archive is refused before anything reads it whole.
void check_zip_end_record(const std::string& path);

}  // namespace satunet
