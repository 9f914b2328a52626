/** Protocol limits shared by the text and meta decoders. */

export const KEY_MAX_LENGTH = 250;
