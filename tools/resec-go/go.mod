// Wrapper module for building the original Go resec (MIT), which the
// benchmarks run side by side with ours. scripts/build-resec-go.sh copies this
// file to a scratch directory, points it at the version it tries
// (github.com/aireuropa/resec v1.5.2 first, github.com/seatgeek/resec v1.1.1
// otherwise), resolves and, only where today's Go needs it, bumps
// dependencies there, and builds. Nothing of the original is kept in this
// repository: neither its sources nor the binary (cached under
// ${XDG_CACHE_HOME:-$HOME/.cache}/resec/resec-go-<version>/resec).
module resec.local/tools/resec-go

go 1.24

require github.com/aireuropa/resec v1.5.2

tool github.com/aireuropa/resec
