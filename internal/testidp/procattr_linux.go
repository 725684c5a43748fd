package testidp

import "syscall"

// ChildProcAttr is for the servers a test or the demo starts (Dex, Envoy): a process group of
// their own, so the terminal's Ctrl-C reaches only the program that started them, which then
// stops them in order instead of racing their exit; and death with that program, so no
// orphan keeps a port when it is killed.
func ChildProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
