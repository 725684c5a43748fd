//go:build !linux

package testidp

import "syscall"

// ChildProcAttr leaves children in the caller's process group: Pdeathsig is Linux-only.
func ChildProcAttr() *syscall.SysProcAttr { return nil }
