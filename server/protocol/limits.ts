/** Protocol limits shared by the text and meta decoders. */

export const KEY_MAX_LENGTH = 250;

/** The server settings framing and decoding depend on. */
export interface TextLimits {
  itemSizeMax: number;
  casEnabled: boolean;
}
