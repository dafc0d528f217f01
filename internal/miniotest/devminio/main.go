// Command devminio builds the pinned MinIO server (if needed) and runs it on
// 127.0.0.1, printing the environment that points swelake at it. It is what
// `make minio` runs; tests start their servers with the same package.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/swelake/swelake/internal/miniotest"
)

func main() {
	dir := flag.String("dir", ".minio-data", "data directory")
	port := flag.Int("port", 0, "port on 127.0.0.1 (0: a free port)")
	buildOnly := flag.Bool("build-only", false, "only build the binary into ./bin")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *buildOnly {
		bin, err := miniotest.Binary(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "devminio:", err)
			os.Exit(1)
		}
		fmt.Println(bin)
		return
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "devminio:", err)
		os.Exit(1)
	}
	s, err := miniotest.Start(ctx, miniotest.Options{Dir: *dir, Port: *port, Stderr: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "devminio:", err)
		os.Exit(1)
	}
	fmt.Printf("# MinIO on http://%s (data in %s); Ctrl-C stops it\nexport %s\n",
		s.Endpoint, *dir, strings.Join(s.Env(), " "))
	<-ctx.Done()
	s.Stop()
}
