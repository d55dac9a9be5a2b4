// Tests run one class at a time: libtorch's random generator, its thread pool and the process's memory are
// shared, and several tests depend on a seeded, reproducible initialisation (resume equivalence, parity with a
// copy of a model) or measure the whole process. Parallel classes would race on all three.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
