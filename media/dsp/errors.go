package dsp

import "errors"

// errClosed is returned by a Processor used after Close.
var errClosed = errors.New("dsp: processor closed")
