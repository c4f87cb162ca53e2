// The dying-ReLU toolkit (API.md, diag): see which units of a network have stopped learning.
export { ActivationMonitor, SATURATION_MARGIN, deadUnits, histogramBinEdges, saturationRange, unitLayout, type ActivationKind, type ActivationMonitorOptions, type LayerHistogram, type LayerReport, type UnitReport } from './monitor.js';
export { gradientStats, updateRatios, totalGradNorm, type HasLearningRate, type ParameterGradientStats } from './gradients.js';
export { TrainingMonitor, type TrainingMonitorOptions, type TrainingRecord, type TrainingWarning, type WarningKind } from './training.js';
export { renderReport, renderComparison, type ReportInput, type ComparisonSection } from './report.js';
export { AnalysisPool, AnalysisJobError, type AnalysisJob, type AnalysisModel, type AnalysisPoolOptions } from './analysis-pool.js';
export { staticDeadUnits, type StaticDeadReport } from './static.js';
export { recycleDormant, type RecycleOptions } from './recycle.js';
export { AnalysisQueue, type AnalysisQueueOptions } from '../queue/client.js';
export { startAnalysisWorker, type AnalysisWorker, type AnalysisWorkerOptions } from '../queue/worker.js';
export { DEFAULT_MAX_JOB_BYTES, type SourceNames } from '../queue/job.js';
