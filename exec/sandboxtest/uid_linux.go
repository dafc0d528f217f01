package sandboxtest

import (
	"os"
	"syscall"
)

func fileUID(path string) (uint32, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Sys().(*syscall.Stat_t).Uid, nil
}
