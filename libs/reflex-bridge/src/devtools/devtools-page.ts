export const DEVTOOLS_PAGE = '<!doctype html><title>ReflexBridge devtools</title>__DEVTOOLS_PATH__';
