package dsp

// NewForTest makes a Processor whose echo cancellation runs the linear
// filter, WebRTC's suppressor, or both, to measure each.
func NewForTest(cfg Config, linear, suppress bool) (*Processor, error) {
	return newProcessor(cfg, linear, suppress)
}
