// Package slurmtest starts a real single-node Slurm cluster — Debian's
// slurm-wlm daemons authenticated by munge — for tests, the way
// internal/miniotest starts MinIO: nothing is faked. Everything it writes
// (munge key and socket, slurm.conf, state, spool, logs, pid files) is
// under one temporary directory; the daemons are stopped by their pid
// files.
package slurmtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swelake/swelake/internal/miniotest"
	"github.com/swelake/swelake/internal/slurm"
)

// Install says what a machine without the cluster's programs needs.
const Install = "install Debian's slurm-wlm and munge (apt-get install slurm-wlm munge; `make setup` does it)"

// Cluster is a running single-node Slurm cluster.
type Cluster struct {
	Dir       string // everything the cluster writes
	Conf      string // its slurm.conf (SLURM_CONF for the client commands)
	Node      string // the one node's name
	Partition string
	pids      []string // pid files, stopped in reverse order
}

// programs the cluster needs, with the package that has each.
var programs = map[string]string{"munged": "munge", "mungekey": "munge", "slurmctld": "slurm-wlm", "slurmd": "slurm-wlm",
	"sbatch": "slurm-wlm", "scontrol": "slurm-wlm", "scancel": "slurm-wlm", "sinfo": "slurm-wlm"}

// Missing lists the cluster's programs not on PATH, as "prog (package)".
func Missing() []string {
	var out []string
	for p, pkg := range programs {
		if _, err := exec.LookPath(p); err != nil {
			out = append(out, p+" ("+pkg+")")
		}
	}
	return out
}

// Start starts munged, slurmctld and slurmd and waits until the node is
// idle. The caller stops it with Stop.
func Start(ctx context.Context) (*Cluster, error) {
	if m := Missing(); len(m) > 0 {
		return nil, fmt.Errorf("slurm: %s missing: %s", strings.Join(m, ", "), Install)
	}
	dir, err := os.MkdirTemp("", "slurm-") // short: the munge socket path must fit 108 bytes
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, Conf: filepath.Join(dir, "slurm.conf"), Partition: "swelake"}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	for _, d := range []string{"munge", "state", "spool", "log", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	mdir := filepath.Join(dir, "munge")
	key, sock := filepath.Join(mdir, "munge.key"), filepath.Join(mdir, "munge.sock")
	if out, err := exec.CommandContext(ctx, "mungekey", "-c", "-k", key).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("slurm: mungekey: %v: %s", err, out)
	}
	munged := filepath.Join(mdir, "munged.pid")
	if out, err := exec.CommandContext(ctx, "munged", "--socket="+sock, "--key-file="+key, "--pid-file="+munged,
		"--log-file="+filepath.Join(mdir, "munged.log"), "--seed-file="+filepath.Join(mdir, "seed"), "--force").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("slurm: munged: %v: %s", err, out)
	}
	c.pids = append(c.pids, munged)
	if c.Node, err = os.Hostname(); err != nil {
		return nil, err
	}
	c.Node, _, _ = strings.Cut(c.Node, ".")
	ctlPort, err := miniotest.FreePort()
	if err != nil {
		return nil, err
	}
	dPort, err := miniotest.FreePort()
	if err != nil {
		return nil, err
	}
	mem, err := memoryMB()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`ClusterName=swelaketest
SlurmctldHost=%[1]s
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
AuthType=auth/munge
AuthInfo=socket=%[4]s
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
SlurmdUser=root
StateSaveLocation=%[5]s/state
SlurmdSpoolDir=%[5]s/spool
SlurmctldPidFile=%[5]s/run/slurmctld.pid
SlurmdPidFile=%[5]s/run/slurmd.pid
SlurmctldLogFile=%[5]s/log/slurmctld.log
SlurmdLogFile=%[5]s/log/slurmd.log
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
MinJobAge=3600
NodeName=%[1]s CPUs=%[6]d RealMemory=%[7]d State=UNKNOWN
PartitionName=%[8]s Nodes=%[1]s Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
`, c.Node, ctlPort, dPort, sock, dir, runtime.NumCPU(), mem, c.Partition)
	if err := os.WriteFile(c.Conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	for _, d := range []string{"slurmctld", "slurmd"} {
		cmd := exec.CommandContext(ctx, d, "-f", c.Conf)
		cmd.Env = append(os.Environ(), c.Env()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("slurm: %s: %v: %s (log: %s)", d, err, out, c.log(d))
		}
		c.pids = append(c.pids, filepath.Join(dir, "run", d+".pid"))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := c.command(ctx, "sinfo", "-h", "-o", "%t").Output()
		if strings.TrimSpace(string(out)) == "idle" {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("slurm: the node is %q after 30s, not idle (logs: %s, %s)", bytes.TrimSpace(out), c.log("slurmctld"), c.log("slurmd"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	ok = true
	return c, nil
}

// memoryMB is the machine's memory less 1 GiB for the system, in MB.
func memoryMB() (int, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.Atoi(f[1])
			if err != nil {
				return 0, err
			}
			return max(kb/1024-1024, 512), nil
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}

func (c *Cluster) log(d string) string {
	data, _ := os.ReadFile(filepath.Join(c.Dir, "log", d+".log"))
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

// Env is what a client command needs to reach the cluster.
func (c *Cluster) Env() []string { return []string{"SLURM_CONF=" + c.Conf} }

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), c.Env()...)
	return cmd
}

// Command is a Slurm client command (sbatch, scancel, …) pointed at the
// cluster; env is added to the caller's environment (sbatch hands it to
// the job).
func (c *Cluster) Command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := c.command(ctx, name, args...)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// Tasks reads the state of each task of an array job (index → state,
// e.g. RUNNING, COMPLETED, FAILED, CANCELLED; a plain job is index 0).
func (c *Cluster) Tasks(ctx context.Context, job string) (map[int]string, error) {
	tasks, err := (&slurm.Client{Env: c.Env()}).Tasks(ctx, job)
	if err != nil {
		return nil, err
	}
	states := map[int]string{}
	for i, t := range tasks {
		states[i] = t.State
	}
	return states, nil
}

// Stop stops the daemons by their pid files and removes the directory.
func (c *Cluster) Stop() {
	for i := len(c.pids) - 1; i >= 0; i-- {
		data, err := os.ReadFile(c.pids[i])
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 1 {
			continue
		}
		syscall.Kill(pid, syscall.SIGTERM)
		for range 50 {
			if syscall.Kill(pid, 0) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	os.RemoveAll(c.Dir)
}
