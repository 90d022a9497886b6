//! The zip container format (APPNOTE 6.3.x): local headers, central directory, ZIP64.
