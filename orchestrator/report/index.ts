// Reports of a campaign: terminal table, JSON contract, tidy CSV and NDJSON, one self-contained HTML file,
// and two campaigns side by side.
export { reportTable, formatCi, formatCv, formatPenalty, formatShare, type TableOptions } from './table.ts';
export { reportJson, ReportJson, type CampaignInfo } from './json.ts';
export { reportCsv, csvField, CSV_COLUMNS, type CsvRunRecord } from './csv.ts';
export { sampleRows, type SampleRow } from './rows.ts';
export { reportNdjson } from './ndjson.ts';
export { reportHtml, chartCount, HTML_FILE_NAME, type HtmlReportInput, type HtmlRun } from './html.ts';
export {
  paperFigures,
  verdictOf,
  timeBreakdownRows,
  timeCategories,
  ISOLATION_TARGET,
  type Figure,
  type FigureSeries,
  type FigurePoint,
  type Verdict,
  type TimeRow,
} from './figures.ts';
export {
  compareCampaigns,
  compareTable,
  compareJson,
  type Comparison,
  type CompareRow,
  type CompareSide,
  type SidePenalty,
} from './compare.ts';
export { sortScenarios, compareScenarios } from './order.ts';
