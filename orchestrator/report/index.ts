// Reports of a campaign: terminal table, JSON contract, tidy CSV.
export { reportTable, formatCi, formatCv, formatPenalty, formatShare, type TableOptions } from './table.ts';
export { reportJson, ReportJson, type CampaignInfo } from './json.ts';
export { reportCsv, csvField, CSV_COLUMNS, type CsvRunRecord } from './csv.ts';
export { sortScenarios, compareScenarios } from './order.ts';
