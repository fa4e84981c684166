export const DEVTOOLS_OVERLAY = '/* __DEVTOOLS_PATH__ */';
