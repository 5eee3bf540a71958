/** The package entry point: `import { MatrixServer } from "matrix-do"`. */
export { MatrixServer } from "./matrixServer";
export type { MatrixServerArgs } from "./args";
export { SettingsError } from "./settings";
