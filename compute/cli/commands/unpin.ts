/** `edgesnap unpin <dataset>`: let new builds replace the current version again (see pin.ts). */
import { pinCommand } from "./pin.ts";

export default pinCommand(false);
